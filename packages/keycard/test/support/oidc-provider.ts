import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { parseSetCookie } from './http.js';

export const CLIENT_ID = 'keycard-test';
export const CLIENT_SECRET = 'client-secret-0123456789-abcdefghij';

/**
 * A real OpenID Connect provider (oidc-provider) on 127.0.0.1 and a free
 * port, for one client. Its login and consent pages are replaced by a handler
 * that signs in `nextAccount` and grants the requested scopes at once, so a
 * test drives the whole authorization-code flow over HTTP without a browser.
 */
export interface TestProvider {
  readonly issuer: string;
  /** The account the next interaction signs in. */
  nextAccount: string;
  /** How many token requests the provider answered (successfully or not). */
  readonly tokenRequests: () => number;
  /**
   * Follows a browser (with no provider session yet) through the provider
   * from `authorizationUrl` to the redirect back to the client; returns that
   * URL (path and query).
   */
  authorize(authorizationUrl: string): Promise<string>;
  close(): Promise<void>;
}

/** `port`: listen there (a port reserved with `freePort`) when the client must know the issuer before the provider starts. */
export async function startProvider(redirectUris: readonly string[], options: { readonly port?: number } = {}): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let tokenRequests = 0;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [...redirectUris],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    findAccount: (_ctx, id) => ({
      accountId: id,
      // An account named by an e-mail address has that address; others get <id>@example.com.
      claims: () => ({ sub: id, email: id.includes('@') ? id : `${id}@example.com`, email_verified: true }),
    }),
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['provider-cookie-key-0123456789'] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  });
  const handler = provider.callback();
  const state = { nextAccount: 'alice' };
  async function interact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId: state.nextAccount, clientId: String(details.params['client_id']) });
    grant.addOIDCScope(String(details.params['scope']));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: state.nextAccount }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      interact(req, res).catch(() => {
        res.statusCode = 500;
        res.end();
      });
      return;
    }
    if (req.url?.startsWith('/token')) tokenRequests++;
    void handler(req, res);
  });

  return {
    issuer,
    get nextAccount() {
      return state.nextAccount;
    },
    set nextAccount(account: string) {
      state.nextAccount = account;
    },
    tokenRequests: () => tokenRequests,
    async authorize(authorizationUrl) {
      // A fresh provider-side jar each time: every flow goes through the interaction, as `nextAccount`.
      const jar = new Map<string, string>();
      let next = authorizationUrl;
      for (let hop = 0; hop < 10; hop++) {
        const response = await fetch(next, {
          redirect: 'manual',
          headers: { cookie: [...jar].map(([name, value]) => `${name}=${value}`).join('; ') },
        });
        for (const header of response.headers.getSetCookie()) {
          const cookie = parseSetCookie(header);
          jar.set(cookie.name, cookie.value);
        }
        const location = response.headers.get('location');
        if (!location) throw new Error(`the provider stopped at ${response.status}: ${await response.text()}`);
        const url = new URL(location, next);
        if (!url.href.startsWith(issuer)) return `${url.pathname}${url.search}`;
        next = url.href;
      }
      throw new Error('too many redirects at the provider');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that was free a moment ago (listen on 0, close): for servers that must know each other's URL before starting. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
