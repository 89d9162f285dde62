export { PassportCompatModule, PASSPORT_COMPAT_OPTIONS, defaultPrincipalOf } from './passport-compat.module.js';
export type { PassportCompatOptions, PassportLike, PassportMiddleware } from './passport-compat.module.js';
export { SessionGoneError } from './session-view.js';
export type { ExpressSessionView, SessionCookieView, SessionCallback } from './session-view.js';
