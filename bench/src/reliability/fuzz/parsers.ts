/**
 * Parser-level fuzzing, in process, through keycard's public exports:
 *
 * - `readCookie(header, name)`: the Cookie header codec;
 * - `TokenSigner.verify(value)`: the signature check of cookie values and bearer tokens;
 * - `SessionManager.load({ cookieHeader, authorization })`: where the
 *   Authorization header is parsed (its Bearer parser is private to the
 *   manager, so it is fuzzed through `load`, the public entry point).
 *
 * Each property says "never throws, and never accepts what this process did
 * not sign", checked against values kept aside when they were signed, not
 * against a second implementation of the parser.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MemoryStore, readCookie, SessionManager, TokenSigner, type Principal } from 'keycard';
import { anyText, base64url, hugeText, mutate, mutations, tokenShaped } from './hostile-strings.js';

export interface ParserRun {
  readonly parser: string;
  readonly cases: number;
  readonly seconds: number;
  /** The shrunk counterexample and what went wrong; undefined when the property held. */
  readonly failure?: string;
}

const MAX_COOKIE_HEADER = 16 * 1024;

export async function fuzzParsers(casesPerParser: number, seed: number): Promise<ParserRun[]> {
  return [
    timed('readCookie', casesPerParser, () => checkReadCookie(casesPerParser, seed)),
    timed('TokenSigner.verify', casesPerParser, () => checkVerify(casesPerParser, seed)),
    await timedAsync('SessionManager.load (Cookie + Authorization)', casesPerParser, () => checkLoad(casesPerParser, seed)),
  ];
}

// ——— readCookie ———

interface CookiePair {
  readonly name: string;
  readonly value: string;
  /** True for the cookie asked for (possibly with whitespace around its name). */
  readonly target: boolean;
}

const TARGET = 'sid';
const noSemicolon = (text: string) => text.replaceAll(';', '');
const separator = fc.constantFrom(';', '; ', ';  ', ' ; ', '\t;\t', ';;', '; ;', ';\u00a0');
const cookieValue = fc.oneof(
  tokenShaped,
  anyText.map(noSemicolon),
  fc.constant(''),
  tokenShaped.map((value) => `"${value}"`),
  fc.tuple(fc.constantFrom(' ', '\t'), tokenShaped).map(([space, value]) => space + value + space),
);
const decoyName = fc
  .oneof(fc.constantFrom('SID', 'sid2', 'xsid', 'csrf', '__Host-sid', 's id', 'sid.sig', ''), anyText)
  .map((name) => name.replace(/[;=]/g, ''))
  .filter((name) => name.trim() !== TARGET);
const cookiePair: fc.Arbitrary<CookiePair> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ name: fc.constantFrom(TARGET, ` ${TARGET}`, `${TARGET} `, `\t${TARGET}`), value: cookieValue, target: fc.constant(true) }) },
  { weight: 3, arbitrary: fc.record({ name: decoyName, value: cookieValue, target: fc.constant(false) }) },
);
/** Header text, and the value readCookie must return for it (null: absent, ambiguous or oversized). */
const structuredHeader = fc
  .tuple(fc.array(fc.tuple(cookiePair, separator), { minLength: 1, maxLength: 6 }), fc.boolean())
  .map(([pairs, bigDecoy]) => {
    const parts = pairs.map(([pair, sep], i) => `${pair.name}=${pair.value}${i < pairs.length - 1 ? sep : ''}`);
    if (bigDecoy) parts.push(`; pad=${'x'.repeat(MAX_COOKIE_HEADER)}`);
    const header = parts.join('');
    const targets = pairs.filter(([pair]) => pair.target);
    const only = targets.length === 1 ? targets[0]?.[0].value.trim() : undefined;
    return { header, expected: header.length > MAX_COOKIE_HEADER || only === undefined ? null : only };
  });

function checkReadCookie(numRuns: number, seed: number): string | undefined {
  const garbage = fc.oneof(anyText, hugeText, fc.constantFrom(undefined, null, '', '=', ';', 'sid', 'sid=', '=sid;sid'));
  const property = fc.property(fc.oneof(garbage.map((header) => ({ header, expected: 'any' as const })), structuredHeader), ({ header, expected }) => {
    const found = readCookie(header, TARGET);
    if (found !== null && typeof found !== 'string') throw new Error(`returned ${typeof found}`);
    if (expected !== 'any') {
      if (found !== expected) throw new Error(`returned ${preview(found)}, expected ${preview(expected)}`);
      return;
    }
    if (found === null) return;
    if (typeof header !== 'string' || header.length > MAX_COOKIE_HEADER || found.includes(';') || !header.includes(found)) {
      throw new Error(`returned ${preview(found)}, which is not one cookie's value in the header`);
    }
  });
  return failureOf(fc.check(property, { numRuns, seed }));
}

// ——— TokenSigner.verify ———

function checkVerify(numRuns: number, seed: number): string | undefined {
  const [current, previous, stranger] = [secret(), secret(), secret()];
  const signer = new TokenSigner([current, previous]);
  const before = new TokenSigner([previous]);
  const other = new TokenSigner([stranger]);
  const random = (bytes: number) => new Uint8Array(randomBytes(bytes));
  /** Every value this "server" signed, with the token inside and whether it is stale. */
  const signed = new Map<string, { token: string; stale: boolean }>();
  const fresh = Array.from({ length: 4 }, () => signer.sign(signer.newToken(random)));
  const old = Array.from({ length: 2 }, () => before.sign(before.newToken(random)));
  for (const value of fresh) signed.set(value, { token: value.slice(0, 43), stale: false });
  for (const value of old) signed.set(value, { token: value.slice(0, 43), stale: true });
  const foreign = Array.from({ length: 2 }, () => other.sign(other.newToken(random)));
  // The right token under a wrong key, and a wrong token under the right MAC.
  foreign.push(other.sign((fresh[0] as string).slice(0, 43)), `${(old[0] as string).slice(0, 43)}.${(fresh[1] as string).slice(44)}`);

  const known = [...fresh, ...old, ...foreign];
  const value = fc.oneof(
    { weight: 2, arbitrary: anyText },
    { weight: 2, arbitrary: tokenShaped },
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...known), mutations).map(([start, steps]) => mutate(start, steps)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...fresh), base64url(1)).map(([start, last]) => start.slice(0, -1) + last) },
    { weight: 1, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, '', '.', 'A'.repeat(20_000)) },
  );
  const property = fc.property(value, (presented) => {
    const verified = signer.verify(presented);
    const expected = typeof presented === 'string' ? signed.get(presented) : undefined;
    if (verified === null) {
      if (expected !== undefined) throw new Error('refused a value it signed');
      return;
    }
    if (expected === undefined) throw new Error(`accepted a value it did not sign: ${preview(presented)}`);
    if (verified.token !== expected.token || verified.stale !== expected.stale) throw new Error('accepted a signed value but returned the wrong token or staleness');
  });
  return failureOf(fc.check(property, { numRuns, seed }));
}

// ——— SessionManager.load: the Bearer parser and the cookie path together ———

async function checkLoad(numRuns: number, seed: number): Promise<string | undefined> {
  const store = new MemoryStore();
  const manager = new SessionManager({ secrets: [secret()], store, idleTimeout: 3600, absoluteTimeout: 7200 });
  const users: Principal[] = ['alice', 'bob'].map((id) => ({ id, roles: ['user'], authVersion: 1 }));
  /** Every credential issued, with the user it signs in. */
  const issued = new Map<string, string>();
  const bearers: string[] = [];
  const cookies: string[] = [];
  for (const user of users) {
    const { token } = await manager.issueToken(user);
    bearers.push(token);
    issued.set(token, user.id);
    const session = await manager.load({ secure: false });
    await session.signIn(user);
    const setCookie = (await manager.commit(session)).find(([name]) => name === 'Set-Cookie')?.[1] ?? '';
    const cookie = /^sid=([^;]+)/.exec(setCookie)?.[1];
    if (cookie === undefined) throw new Error('the manager set no sid cookie on sign-in');
    cookies.push(cookie);
    issued.set(cookie, user.id);
  }
  const records = store.size;
  const credential = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...bearers, ...cookies), mutations).map(([value, steps]) => mutate(value, steps)) },
    { weight: 2, arbitrary: fc.oneof(anyText, tokenShaped) },
    { weight: 1, arbitrary: fc.constantFrom(...bearers, ...cookies) },
  );
  const authorization = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: anyText },
    {
      weight: 5,
      arbitrary: fc
        .tuple(fc.constantFrom('Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Bearer', 'Basic ', 'Token ', ' Bearer '), credential, fc.constantFrom('', '', ' ', ' x', ',Bearer x', '\n'))
        .map(([scheme, value, tail]) => scheme + value + tail),
    },
  );
  const cookieHeader = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: anyText },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom('sid', '__Host-sid', 'SID', ' sid'), credential, fc.constantFrom('', '; other=1', '; sid=x', `; sid=${cookies[0]}`))
        .map(([name, value, tail]) => `${name}=${value}${tail}`),
    },
  );
  const property = fc.asyncProperty(authorization, cookieHeader, fc.boolean(), async (auth, cookie, secure) => {
    const session = await manager.load({ authorization: auth, cookieHeader: cookie, secure, ip: '127.0.0.1', userAgent: 'fuzz' });
    if (store.size !== records) throw new Error('loading a session stored or removed a record');
    const principal = session.principal;
    if (principal === null) {
      if (auth === undefined && cookie !== undefined && !secure && /^sid=[^;]*$/.test(cookie) && issued.has(cookie.slice(4))) {
        throw new Error('refused a cookie it issued');
      }
      if (auth !== undefined && /^Bearer [^\s]+$/.test(auth) && issued.has(auth.slice(7))) throw new Error('refused a bearer token it issued');
      return;
    }
    const presented = [...issued].filter(([value]) => (auth ?? '').includes(value) || (cookie ?? '').includes(value));
    if (!presented.some(([, userId]) => userId === principal.id)) {
      throw new Error(`signed in as ${principal.id} from credentials it never issued for that user`);
    }
  });
  return failureOf(await fc.check(property, { numRuns, seed }));
}

// ——— helpers ———

function secret(): string {
  return randomBytes(32).toString('base64url');
}

function timed(parser: string, cases: number, run: () => string | undefined): ParserRun {
  const started = performance.now();
  const failure = run();
  return { parser, cases, seconds: (performance.now() - started) / 1000, ...(failure === undefined ? {} : { failure }) };
}

async function timedAsync(parser: string, cases: number, run: () => Promise<string | undefined>): Promise<ParserRun> {
  const started = performance.now();
  const failure = await run();
  return { parser, cases, seconds: (performance.now() - started) / 1000, ...(failure === undefined ? {} : { failure }) };
}

function failureOf<Ts>(details: fc.RunDetails<Ts>): string | undefined {
  if (!details.failed) return undefined;
  const error = details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance);
  return `after ${details.numRuns} cases (seed ${details.seed}, path "${details.counterexamplePath ?? ''}"): ${error.slice(0, 300)}; counterexample ${preview(details.counterexample)}`;
}

/** A short, printable rendering of a value for a problem line. */
export function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  const shown = JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
  return text.length > 200 ? `${shown} (${text.length} chars)` : shown;
}
