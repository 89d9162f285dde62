export { SessionManager } from './core/manager.js';
export type { SessionInfo, IssuedToken, StoreHealth } from './core/manager.js';
export { Session } from './core/session.js';
export type { SignInOptions, RotateOptions } from './core/session.js';
export type { ClientInfo } from './core/records.js';
export type { RequestInfo, ResponseHeaders, Transport, CookieAction } from './core/session-cookie.js';
export { resolveOptions } from './default-store.js';
export type { SessionOptions, CookieOptions, ResolvedOptions, ResolvedCookie } from './core/options.js';
export type { SessionStore, StoreSettings, RevocationListener } from './core/store.js';
export type { JsonValue, SessionData, Principal, SessionRecord, SessionPatch } from './core/record.js';
export { expiresAt, isLive, touched, touchDue } from './core/record.js';
export { TokenSigner, sessionIdOf } from './core/token.js';
export type { VerifiedToken } from './core/token.js';
export {
  readCookie,
  parseCookies,
  serializeCookie,
  checkCookieName,
  checkCookieValue,
  checkCookiePath,
  checkCookieDomain,
  checkMaxAge,
  checkCookieRules,
  MAX_COOKIE_AGE_SECONDS,
  MAX_COOKIE_NAME_VALUE_BYTES,
} from './core/cookie.js';
export { CookieJar, AppCookies, resolveAppCookieOptions } from './core/cookie-jar.js';
export type {
  AppCookieOptions,
  SetCookieOptions,
  ProtectedCookieOptions,
  ClearCookieOptions,
  ResolvedAppCookies,
  CookieRequest,
  SetCookieSink,
} from './core/cookie-jar.js';
export { CookieCodec } from './core/cookie-codec.js';
export type { CookieEnvelope, EnvelopeAttributes } from './core/cookie-codec.js';
export type { CookieAttributes, SameSite } from './core/cookie.js';
export { SessionEvents } from './core/events.js';
export { SecurityLog, securityLogLine, SECURITY_EVENT_TYPES } from './core/security-log.js';
export type { SessionEvent, SessionEventType, SessionEventListener } from './core/events.js';
export { systemClock, cryptoRandom } from './core/clock.js';
export type { Clock, RandomSource } from './core/clock.js';
export {
  KeycardError,
  InvalidOptionsError,
  StoreUnavailableError,
  WriteNotDurableError,
  SessionExistsError,
  UnsupportedOperationError,
  InvalidSessionValueError,
  SessionLimitError,
  SignInThrottledError,
  OverloadedError,
  InvalidCookieError,
  CookieTooLargeError,
} from './core/errors.js';
export type { KeycardErrorCode, RefusalCode } from './core/errors.js';
export { MemoryStore } from './memory/memory-store.js';
export type { FlashMessage, FlashCookie } from './core/flash.js';
export { MemoryRevocationStore } from './memory/memory-revocation-store.js';
export type { RevocationStore, RevocationState } from './core/revocation.js';
export type { MemoryStoreOptions } from './memory/memory-store.js';
export { LoginThrottle, normalizeAccount, addressBucket, UNPARSABLE_ADDRESS_BUCKET } from './throttle/login-throttle.js';
export type { LoginThrottleOptions, LoginAttempt, ThrottleDecision, ThrottleScope, CheckOptions } from './throttle/login-throttle.js';
export type { DeviceCookie } from './throttle/device-cookie.js';
export { RateLimiter } from './throttle/rate-limiter.js';
export type { RateLimiterOptions, RateLimitDecision } from './throttle/rate-limiter.js';
export { clientAddress } from './core/address.js';
export { MemoryRateLimitStore } from './memory/memory-rate-limit-store.js';
export type { MemoryRateLimitStoreOptions } from './memory/memory-rate-limit-store.js';
export type { RateLimitStore, RateLimitRule, RateLimitState, RateLimitResult } from './throttle/rate-limit-store.js';
export { ConnectStoreAdapter } from './connect/connect-store-adapter.js';
export { ExpressSessionMigration } from './connect/express-session-migration.js';
export type { ExpressSessionMigrationOptions, LegacySession, MigrationOutcome, MigrationResult } from './connect/express-session-migration.js';
export type { ConnectStore, ConnectSession, ConnectCookie, ConnectStoreAdapterOptions } from './connect/connect-store-adapter.js';
