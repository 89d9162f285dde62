export { KeycardHealthIndicator, KeycardHealthModule } from './keycard-health.indicator.js';
