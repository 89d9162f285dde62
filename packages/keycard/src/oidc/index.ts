export { OidcSignIn, OidcSignInError, OidcUnavailableError } from './oidc-sign-in.js';
export type { OidcSignInOptions, OidcIdentity, OidcFailure, StartedSignIn, FinishedSignIn } from './oidc-sign-in.js';
