/** Metadata keys of the decorators, read by the guards. Symbols: no clash with an application's own keys. */
export const PUBLIC_METADATA = Symbol('keycard:public');
export const ROLES_METADATA = Symbol('keycard:roles');
/** Milliseconds. */
export const FRESH_AUTH_METADATA = Symbol('keycard:fresh-auth');
