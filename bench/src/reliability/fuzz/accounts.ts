/**
 * The valid credentials the fuzzer starts from and mutates: a few accounts
 * registered through the JSON API, each with a session cookie, that session's
 * CSRF token and a bearer token, plus a pre-sign-in CSRF cookie and token.
 *
 * Fuzzed requests may legitimately end these sessions (a valid bearer token
 * sent to DELETE /api/auth/sessions revokes the cookie session), so `settle`
 * checks each credential after every batch that had an accepted request and
 * signs in again where one died. These management requests are not fuzz
 * cases. Each comes from an X-Forwarded-For address of its own (the
 * deployment trusts the loopback proxy), so the per-address sign-in limit the
 * fuzzer exhausts on 127.0.0.1 never locks them out; the accounts' emails
 * never appear in fuzzed bodies, so their per-account limit stays untouched.
 */
import { headerValue, setCookieValue, type HttpReply, type LoopbackClient } from './loopback-client.js';

export interface Account {
  readonly email: string;
  readonly password: string;
  readonly id: string;
  /** The `sid` cookie value. */
  cookie: string;
  /** The CSRF token bound to that session. */
  csrf: string;
  bearer: string;
}

export interface AnonymousCsrf {
  /** The `csrf` cookie value (pre-sign-in double submit). */
  readonly cookie: string;
  readonly token: string;
}

export class AccountPool {
  private addresses = 0;

  private readonly registered: Account[] = [];
  private csrfPair: AnonymousCsrf = { cookie: '', token: '' };

  private constructor(
    private readonly client: LoopbackClient,
    private readonly base: string,
  ) {}

  get accounts(): readonly Account[] {
    return this.registered;
  }

  get anonymous(): AnonymousCsrf {
    return this.csrfPair;
  }

  /**
   * Registers the accounts in order; a spec marked `provisioned` (the
   * ADMIN_EMAIL account, which the app creates at start-up and registration
   * refuses) is signed in instead.
   */
  static async register(
    client: LoopbackClient,
    base: string,
    specs: readonly { readonly email: string; readonly password: string; readonly name: string; readonly provisioned?: boolean }[],
  ): Promise<AccountPool> {
    const pool = new AccountPool(client, base);
    for (const spec of specs) pool.registered.push(spec.provisioned ? await pool.signInOne(spec) : await pool.registerOne(spec));
    pool.csrfPair = await pool.anonymousCsrf();
    return pool;
  }

  /** Makes every credential valid again; throws when an account cannot sign in any more. */
  async settle(): Promise<void> {
    for (const account of this.accounts) {
      const me = await this.call('GET', '/api/auth/me', { cookie: `sid=${account.cookie}` });
      if (me.status === 200) {
        const rotated = setCookieValue(me, 'sid');
        if (rotated) {
          account.cookie = rotated;
          account.csrf = await this.sessionCsrf(account.cookie);
        }
      } else {
        await this.signIn(account);
      }
      const viaBearer = await this.call('GET', '/api/auth/me', { authorization: `Bearer ${account.bearer}` });
      if (viaBearer.status !== 200) account.bearer = await this.token(account);
    }
  }

  /** A pre-sign-in CSRF cookie and its token. */
  async anonymousCsrf(): Promise<AnonymousCsrf> {
    const reply = expect(await this.call('GET', '/api/auth/csrf', {}), 200, 'GET /api/auth/csrf');
    const cookie = setCookieValue(reply, 'csrf');
    if (!cookie) throw new Error('GET /api/auth/csrf set no csrf cookie');
    return { cookie, token: tokenOf(reply) };
  }

  private async registerOne(spec: { email: string; password: string; name: string }): Promise<Account> {
    const anonymous = await this.anonymousCsrf();
    const reply = expect(
      await this.call('POST', '/api/auth/register', { cookie: `csrf=${anonymous.cookie}`, 'x-csrf-token': anonymous.token }, spec),
      201,
      'POST /api/auth/register',
    );
    const cookie = setCookieValue(reply, 'sid');
    const id = (JSON.parse(reply.body) as { user?: { id?: unknown } }).user?.id;
    if (!cookie || typeof id !== 'string') throw new Error('POST /api/auth/register answered 201 without a sid cookie or a user id');
    const account: Account = { email: spec.email, password: spec.password, id, cookie, csrf: '', bearer: '' };
    account.csrf = await this.sessionCsrf(cookie);
    account.bearer = await this.token(account);
    return account;
  }

  private async signInOne(spec: { email: string; password: string }): Promise<Account> {
    const signedIn: Account = { email: spec.email, password: spec.password, id: '', cookie: '', csrf: '', bearer: '' };
    await this.signIn(signedIn);
    const me = expect(await this.call('GET', '/api/auth/me', { cookie: `sid=${signedIn.cookie}` }), 200, 'GET /api/auth/me (provisioned account)');
    const id = (JSON.parse(me.body) as { user?: { id?: unknown } }).user?.id;
    if (typeof id !== 'string') throw new Error('GET /api/auth/me answered 200 without a user id');
    const account: Account = { ...signedIn, id };
    account.bearer = await this.token(account);
    return account;
  }

  private async signIn(account: Account): Promise<void> {
    const anonymous = await this.anonymousCsrf();
    const reply = expect(
      await this.call('POST', '/api/auth/login', { cookie: `csrf=${anonymous.cookie}`, 'x-csrf-token': anonymous.token }, { email: account.email, password: account.password }),
      200,
      'POST /api/auth/login (re-sign-in of a fuzz account)',
    );
    const cookie = setCookieValue(reply, 'sid');
    if (!cookie) throw new Error('POST /api/auth/login answered 200 without a sid cookie');
    account.cookie = cookie;
    account.csrf = await this.sessionCsrf(cookie);
  }

  private async sessionCsrf(cookie: string): Promise<string> {
    return tokenOf(expect(await this.call('GET', '/api/auth/csrf', { cookie: `sid=${cookie}` }), 200, 'GET /api/auth/csrf (signed in)'));
  }

  private async token(account: Account): Promise<string> {
    const reply = expect(
      await this.call('POST', '/api/auth/token', {}, { email: account.email, password: account.password }),
      201,
      'POST /api/auth/token (fuzz account)',
    );
    const token = (JSON.parse(reply.body) as { token?: unknown }).token;
    if (typeof token !== 'string') throw new Error('POST /api/auth/token answered 201 without a token');
    return token;
  }

  private call(method: string, path: string, headers: Record<string, string>, json?: unknown): Promise<HttpReply> {
    const n = ++this.addresses;
    return this.client.send(this.base, {
      method,
      path,
      headers: {
        accept: 'application/json',
        'user-agent': 'keycard-fuzz-accounts',
        'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        ...Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, headerValue(value)])),
      },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  }
}

function expect(reply: HttpReply, status: number, what: string): HttpReply {
  if (reply.status !== status) throw new Error(`${what} answered ${reply.status}, expected ${status}: ${reply.body.slice(0, 200)}`);
  return reply;
}

function tokenOf(reply: HttpReply): string {
  const token = (JSON.parse(reply.body) as { token?: unknown }).token;
  if (typeof token !== 'string' || token === '') throw new Error('GET /api/auth/csrf answered without a token');
  return token;
}
