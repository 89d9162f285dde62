export { KeycardEventBridge, KeycardEventsModule, eventName } from './event-emitter.bridge.js';
