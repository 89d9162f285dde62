import * as oidc from 'openid-client';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidOptionsError, KeycardError } from '../core/errors.js';
import type { JsonValue, Principal } from '../core/record.js';
import type { Session } from '../core/session.js';

/** Who the provider says signed in, for `principalFor`. */
export interface OidcIdentity {
  /** The `iss` of the ID token. */
  readonly issuer: string;
  /** The `sub` of the ID token: the provider's stable id for the user. */
  readonly subject: string;
  /** Every claim of the verified ID token (email, name, ... when the provider puts them there). */
  readonly claims: Readonly<Record<string, JsonValue | undefined>>;
  /** For a userinfo or API call in `principalFor`. Never store or log it. */
  readonly accessToken: string;
}

export interface OidcSignInOptions {
  /** The provider's issuer URL; its `/.well-known/openid-configuration` is read on first use. */
  readonly issuer: string | URL;
  readonly clientId: string;
  /** Absent: a public client (PKCE alone, no client authentication). */
  readonly clientSecret?: string;
  /** The callback URL registered with the provider, exactly: callbacks received at any other URL are refused. */
  readonly redirectUri: string;
  /** Default 'openid email'. Must include 'openid'. */
  readonly scope?: string;
  /**
   * Turns the provider's identity into the app's principal (find or create
   * the user), or null to refuse the sign-in. Called once per successful
   * callback, after every check.
   */
  readonly principalFor: (identity: OidcIdentity) => Promise<Principal | null> | Principal | null;
  /** Seconds a started sign-in stays usable. Default 600. */
  readonly flowTimeout?: number;
  /** Sign-ins one browser may have started at once (tabs); the oldest is dropped past it. Default 5. */
  readonly maxPendingFlows?: number;
  /** Seconds to wait for the provider. Default 10. */
  readonly providerTimeout?: number;
  /** Allow an `http:` issuer: only for a provider on this machine in development and tests. Default false. */
  readonly allowInsecureIssuer?: boolean;
  /** Injected for tests. */
  readonly clock?: Clock;
}

/** Why a callback was refused: for server logs and tests, never for the client. */
export type OidcFailure =
  | 'redirect-uri-mismatch'
  | 'state-missing'
  | 'unknown-state'
  | 'expired'
  | 'provider-refused'
  | 'invalid-response'
  | 'principal-refused';

/** A sign-in callback that failed a check. HTTP 400 `KEYCARD_OIDC_FAILED`. */
export class OidcSignInError extends KeycardError {
  readonly reason: OidcFailure;
  constructor(reason: OidcFailure, options?: { cause?: unknown }) {
    super('KEYCARD_OIDC_FAILED', `OpenID Connect sign-in refused: ${reason}`, options);
    this.reason = reason;
  }
}

/** The provider could not be reached or answered in time. HTTP 503 `KEYCARD_OIDC_UNAVAILABLE`. */
export class OidcUnavailableError extends KeycardError {
  constructor(options?: { cause?: unknown }) {
    super('KEYCARD_OIDC_UNAVAILABLE', 'the OpenID Connect provider is unavailable', options);
  }
}

export interface StartedSignIn {
  /** Redirect the browser here (303). */
  readonly url: string;
}

export interface FinishedSignIn {
  readonly principal: Principal;
  readonly identity: OidcIdentity;
  /** The local path given to `start`, to redirect to. */
  readonly returnTo: string;
}

/** A started sign-in as the pre-authentication session keeps it, keyed by its `state`. */
interface PendingFlow {
  readonly verifier: string;
  readonly nonce: string;
  readonly returnTo: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

type PendingFlows = Record<string, PendingFlow>;

/** The session key of the pending flows. */
const FLOWS_KEY = 'keycard:oidc';

/**
 * Sign-in with an OpenID Connect provider (authorization code + PKCE, on
 * openid-client). `start` keeps the flow's PKCE verifier, `state` and
 * `nonce` in the (pre-authentication) session, one entry per `state`, so
 * that flows started in several tabs do not overwrite each other. `finish`
 * checks that the callback arrived at the registered redirect URI, belongs
 * to a flow this browser started and has not expired, consumes it (a
 * replayed callback finds nothing), exchanges the code with the verifier,
 * checks the ID token's nonce, and signs the principal in under a new
 * session id.
 */
export class OidcSignIn {
  private readonly issuer: URL;
  private readonly redirect: URL;
  private readonly scope: string;
  private readonly flowTimeoutMs: number;
  private readonly maxPending: number;
  private readonly timeoutSeconds: number;
  private readonly clock: Clock;
  private configuration: Promise<oidc.Configuration> | null = null;

  constructor(private readonly options: OidcSignInOptions) {
    const fail = (message: string): never => {
      throw new InvalidOptionsError(`keycard/oidc: ${message}`);
    };
    this.issuer = urlOption('issuer', options.issuer, fail);
    this.redirect = urlOption('redirectUri', options.redirectUri, fail);
    const insecure = options.allowInsecureIssuer ?? false;
    if (this.issuer.protocol !== 'https:' && !insecure) fail('issuer must be an https: URL (allowInsecureIssuer is for local providers)');
    if (this.redirect.search || this.redirect.hash) fail('redirectUri must have no query or fragment');
    if (typeof options.clientId !== 'string' || options.clientId.length === 0) fail('clientId is required');
    if (options.clientSecret !== undefined && (typeof options.clientSecret !== 'string' || options.clientSecret.length === 0)) {
      fail('clientSecret must be a non-empty string when given');
    }
    if (typeof options.principalFor !== 'function') fail('principalFor is required: it maps the identity to a principal');
    this.scope = options.scope ?? 'openid email';
    if (!this.scope.split(' ').includes('openid')) fail(`scope must include 'openid', got ${JSON.stringify(this.scope)}`);
    this.flowTimeoutMs = positive('flowTimeout', options.flowTimeout, 600, fail) * 1000;
    this.maxPending = positive('maxPendingFlows', options.maxPendingFlows, 5, fail);
    if (!Number.isInteger(this.maxPending)) fail('maxPendingFlows must be a whole number');
    this.timeoutSeconds = positive('providerTimeout', options.providerTimeout, 10, fail);
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Starts a sign-in: records the flow in the session (creating an anonymous
   * session if there is none) and returns the provider URL to redirect to.
   * `returnTo` is where `finish` says to go: a local path, else '/' (it may come from a query string).
   */
  async start(session: Session, options: { readonly returnTo?: string } = {}): Promise<StartedSignIn> {
    const returnTo = localPath(options.returnTo ?? '/');
    const config = await this.config();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const now = this.clock.now();
    const flows = this.pending(session, now);
    flows[state] = { verifier, nonce, returnTo, expiresAt: now + this.flowTimeoutMs };
    session.set(FLOWS_KEY, this.newest(flows) as unknown as JsonValue);
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirect.href,
      scope: this.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href };
  }

  /**
   * Finishes a sign-in from the callback request's URL (Express
   * `req.originalUrl`, Fastify `request.url`, or an absolute URL). Signs the
   * principal in under a new session id, or throws `OidcSignInError` (400)
   * or `OidcUnavailableError` (503) and signs nobody in.
   */
  async finish(session: Session, callbackUrl: string): Promise<FinishedSignIn> {
    const received = new URL(callbackUrl, this.redirect);
    if (received.origin !== this.redirect.origin || received.pathname !== this.redirect.pathname) {
      throw new OidcSignInError('redirect-uri-mismatch');
    }
    const state = received.searchParams.get('state');
    if (!state) throw new OidcSignInError('state-missing');
    const flow = await this.consume(session, state);
    if (flow.expiresAt <= this.clock.now()) throw new OidcSignInError('expired');
    const config = await this.config();
    const current = new URL(this.redirect);
    current.search = received.search;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: flow.verifier,
        expectedState: state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw providerError(error);
    }
    const claims = tokens.claims();
    if (!claims) throw new OidcSignInError('invalid-response');
    const identity: OidcIdentity = {
      issuer: claims.iss,
      subject: claims.sub,
      claims: claims as unknown as Record<string, JsonValue | undefined>,
      accessToken: tokens.access_token,
    };
    const principal = await this.options.principalFor(identity);
    if (!principal) throw new OidcSignInError('principal-refused');
    await session.signIn(principal);
    return { principal, identity, returnTo: flow.returnTo };
  }

  /**
   * Takes the flow out of the session and stores that at once, before the
   * code exchange: a replayed or concurrent second callback finds nothing,
   * whatever happens to the first.
   */
  private async consume(session: Session, state: string): Promise<PendingFlow> {
    const flows = this.pending(session, Number.NEGATIVE_INFINITY);
    const flow = Object.hasOwn(flows, state) ? flows[state] : undefined;
    if (!flow) throw new OidcSignInError('unknown-state');
    delete flows[state];
    if (Object.keys(flows).length === 0) session.delete(FLOWS_KEY);
    else session.set(FLOWS_KEY, flows as unknown as JsonValue);
    await session.save();
    return flow;
  }

  /** The session's pending flows still live at `now` (a copy), ignoring anything malformed. */
  private pending(session: Session, now: number): PendingFlows {
    const stored = session.get(FLOWS_KEY);
    const flows: PendingFlows = Object.create(null) as PendingFlows;
    if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return flows;
    for (const [state, value] of Object.entries(stored)) {
      if (isFlow(value) && value.expiresAt > now) flows[state] = value;
    }
    return flows;
  }

  /** At most `maxPendingFlows`, the most recently started kept. */
  private newest(flows: PendingFlows): PendingFlows {
    const entries = Object.entries(flows).sort(([, a], [, b]) => b.expiresAt - a.expiresAt);
    return Object.fromEntries(entries.slice(0, this.maxPending));
  }

  /** Discovery on first use, retried on the next call after a failure. */
  private config(): Promise<oidc.Configuration> {
    this.configuration ??= this.discover().catch((error: unknown) => {
      this.configuration = null;
      throw error;
    });
    return this.configuration;
  }

  private async discover(): Promise<oidc.Configuration> {
    const { clientId, clientSecret } = this.options;
    const auth = clientSecret === undefined ? oidc.None() : oidc.ClientSecretPost(clientSecret);
    const execute = this.options.allowInsecureIssuer ? [oidc.allowInsecureRequests] : [];
    try {
      const config = await oidc.discovery(this.issuer, clientId, undefined, auth, { execute, timeout: this.timeoutSeconds });
      config.timeout = this.timeoutSeconds;
      return config;
    } catch (error) {
      throw new OidcUnavailableError({ cause: error });
    }
  }
}

function providerError(error: unknown): KeycardError {
  if (error instanceof oidc.AuthorizationResponseError || error instanceof oidc.ResponseBodyError) {
    return new OidcSignInError('provider-refused', { cause: error });
  }
  if (error instanceof oidc.ClientError) return new OidcSignInError('invalid-response', { cause: error });
  return new OidcUnavailableError({ cause: error });
}

function isFlow(value: unknown): value is PendingFlow {
  const flow = value as Partial<PendingFlow> | null;
  return (
    typeof flow === 'object' &&
    flow !== null &&
    typeof flow.verifier === 'string' &&
    typeof flow.nonce === 'string' &&
    typeof flow.returnTo === 'string' &&
    typeof flow.expiresAt === 'number'
  );
}

/** A path on this site (one leading '/', no scheme, host, backslash or control character), else '/': no open redirect. */
function localPath(path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || path.includes('\\') || hasControl(path)) {
    return '/';
  }
  return path;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20 || text.charCodeAt(i) === 0x7f) return true;
  return false;
}

function urlOption(name: string, value: unknown, fail: (message: string) => never): URL {
  try {
    return new URL(value as string);
  } catch {
    return fail(`${name} must be an absolute URL, got ${JSON.stringify(value)}`);
  }
}

function positive(name: string, value: number | undefined, fallback: number, fail: (message: string) => never): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number, got ${String(value)}`);
  return value;
}
