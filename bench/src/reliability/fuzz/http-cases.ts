/**
 * Hostile HTTP requests for the reference app, as fast-check values.
 *
 * A case is a plan: the parts that depend on live credentials (a valid or
 * mutated session cookie, bearer token, CSRF token, a real user id) name the
 * account and the mutation, and `resolve` fills them in when the case is
 * sent. Everything else (method, path, bodies, content types, Origin, …) is
 * concrete. The weights keep valid credentials rare, so the great majority of
 * requests are rejected and most batches can be checked for state changes.
 */
import fc from 'fast-check';
import type { Account, AccountPool } from './accounts.js';
import { anyText, base64url, hugeText, mutate, mutations, tokenShaped, type Mutation } from './hostile-strings.js';
import { headerValue, type HttpRequest } from './loopback-client.js';

/** A credential of one of the pool's accounts, as is or mutated. */
interface CredentialRef {
  readonly account: number;
  readonly steps: readonly Mutation[];
}

type Part =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'session-cookie'; readonly ref: CredentialRef }
  | { readonly kind: 'bearer'; readonly ref: CredentialRef }
  | { readonly kind: 'session-csrf'; readonly ref: CredentialRef }
  | { readonly kind: 'anonymous-csrf-cookie'; readonly steps: readonly Mutation[] }
  | { readonly kind: 'anonymous-csrf'; readonly steps: readonly Mutation[] }
  | { readonly kind: 'user-id'; readonly account: number };

export interface RequestPlan {
  readonly target: number;
  readonly method: string;
  /** Concatenated; `user-id` parts go in paths. */
  readonly path: readonly Part[];
  /** Header name → parts concatenated (Cookie: `sid=` + a mutated session cookie + `; other=1`). */
  readonly headers: readonly (readonly [string, readonly Part[]])[];
  readonly body?: string | Uint8Array | undefined;
}

export interface CaseContext {
  /** Accounts the fuzzer may sign in as (by credential only; their emails never appear in bodies). */
  readonly accounts: number;
  /** Accounts whose emails and passwords bodies may use (login, token, register 409). */
  readonly decoys: readonly { readonly email: string; readonly password: string }[];
}

const text = (value: string): Part => ({ kind: 'text', text: value });
const account = (context: CaseContext) => fc.integer({ min: 0, max: Math.max(0, context.accounts - 1) });
/** Mostly mutated, sometimes exact: an exact valid credential is what lets a request through. */
const ref = (context: CaseContext, exactWeight: number): fc.Arbitrary<CredentialRef> =>
  fc.record({
    account: account(context),
    steps: fc.oneof({ weight: exactWeight, arbitrary: fc.constant([]) }, { weight: 100 - exactWeight, arbitrary: mutations }),
  });

// ——— method and path ———

const TABLE: readonly (readonly [string, string])[] = [
  ['GET', '/api/health'],
  ['GET', '/api/auth/csrf'],
  ['POST', '/api/auth/register'],
  ['POST', '/api/auth/login'],
  ['POST', '/api/auth/token'],
  ['POST', '/api/auth/logout'],
  ['GET', '/api/auth/me'],
  ['GET', '/api/auth/sessions'],
  ['DELETE', '/api/auth/sessions/:id'],
  ['DELETE', '/api/auth/sessions'],
  ['POST', '/api/auth/password'],
  ['GET', '/api/admin/users/:id/sessions'],
  ['DELETE', '/api/admin/users/:id/sessions'],
  ['PUT', '/api/admin/users/:id/roles'],
];
/** The two routes that answer 200 to anybody: drawn rarely, or most batches would hold an accepted request. */
const ALWAYS_OK = new Set(['/api/health', '/api/auth/csrf']);
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'get', 'FOO'];

/** Percent-encodes a string's UTF-8 bytes, keeping the characters a path may carry literally. */
function pathSafe(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const rawSegment = fc.oneof(
  anyText.map(pathSafe),
  fc.constantFrom('%', '%zz', '%00', '%ff', '%c0%af', '..', '%2e%2e', '%2F', '//', '\\', '?', '#', '?a=1&a=2', ';x=y', '~', '*'),
);
const idSegment = (context: CaseContext): fc.Arbitrary<Part> =>
  fc.oneof(
    { weight: 2, arbitrary: account(context).map((index): Part => ({ kind: 'user-id', account: index })) },
    { weight: 2, arbitrary: fc.uuid().map(text) },
    { weight: 2, arbitrary: base64url(22).map(text) },
    { weight: 3, arbitrary: rawSegment.map(text) },
    { weight: 1, arbitrary: fc.constantFrom('00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', "1' OR '1'='1", '-1', '0', 'null', 'undefined', '__proto__', 'constructor').map((value) => text(pathSafe(value))) },
  );

function tablePath(template: string, context: CaseContext): fc.Arbitrary<Part[]> {
  const [before, after] = template.split(':id');
  if (after === undefined) return fc.constant([text(template)]);
  return idSegment(context).map((id) => [text(before ?? ''), id, text(after)]);
}

const route = (context: CaseContext): fc.Arbitrary<{ method: string; path: Part[] }> =>
  fc.oneof(
    {
      weight: 160,
      arbitrary: fc
        .tuple(fc.constantFrom(...TABLE.filter(([, path]) => !ALWAYS_OK.has(path))), fc.integer({ min: 0, max: 9 }), fc.constantFrom(...METHODS), fc.constantFrom('', '', '', '/', '?x=1', '?__proto__[a]=1', '/..', '%00', '.json'))
        .chain(([[method, template], pick, other, suffix]) =>
          tablePath(template, context).map((path) => ({ method: pick < 8 ? method : other, path: [...path, text(suffix)] })),
        ),
    },
    { weight: 1, arbitrary: fc.constantFrom(...TABLE.filter(([, path]) => ALWAYS_OK.has(path))).map(([method, path]) => ({ method, path: [text(path)] })) },
    {
      weight: 30,
      arbitrary: fc
        .tuple(fc.constantFrom('/', '/api/', '/api/auth/', '/api/admin/users/', '/ws/', '/login/', '/sessions/'), fc.array(rawSegment, { minLength: 1, maxLength: 4 }), fc.constantFrom(...METHODS))
        .map(([prefix, segments, method]) => ({ method, path: [text(prefix + segments.join('/'))] })),
    },
  );

// ——— headers ———

const cookieName = fc.constantFrom('sid', 'sid', 'sid', '__Host-sid', 'SID', ' sid', 'sid ', 'csrf', '__Secure-sid');
const cookieValuePart = (context: CaseContext): fc.Arbitrary<Part> =>
  fc.oneof(
    { weight: 6, arbitrary: ref(context, 3).map((r): Part => ({ kind: 'session-cookie', ref: r })) },
    { weight: 1, arbitrary: ref(context, 0).map((r): Part => ({ kind: 'bearer', ref: r })) },
    { weight: 2, arbitrary: fc.oneof(tokenShaped, anyText.map(headerValue), fc.constant('')).map(text) },
    { weight: 1, arbitrary: mutations.map((steps): Part => ({ kind: 'anonymous-csrf-cookie', steps })) },
  );
const separator = fc.constantFrom('; ', ';', ';;', ' ; ', ', ', '; ;', '\t;');

const cookieHeader = (context: CaseContext): fc.Arbitrary<Part[] | undefined> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.oneof({ weight: 4, arbitrary: anyText }, { weight: 1, arbitrary: hugeText }).map((value) => [text(headerValue(value))]) },
    {
      weight: 6,
      arbitrary: fc.array(fc.tuple(cookieName, cookieValuePart(context), separator), { minLength: 1, maxLength: 4 }).map((pairs) =>
        pairs.flatMap(([name, value, sep], i) => [text(`${name}=`), value, ...(i < pairs.length - 1 ? [text(sep)] : [])]),
      ),
    },
    // A pre-sign-in CSRF cookie, exact: with the matching token, login and register forms pass CSRF.
    { weight: 2, arbitrary: fc.constant<Part[]>([text('csrf='), { kind: 'anonymous-csrf-cookie', steps: [] }]) },
  );

const authorizationHeader = (context: CaseContext): fc.Arbitrary<Part[] | undefined> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: anyText.map((value) => [text(headerValue(value))]) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.constantFrom('Bearer ', 'Bearer ', 'Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Bearer', 'Basic ', 'Token '),
          fc.oneof(
            { weight: 5, arbitrary: ref(context, 2).map((r): Part => ({ kind: 'bearer', ref: r })) },
            { weight: 1, arbitrary: ref(context, 0).map((r): Part => ({ kind: 'session-cookie', ref: r })) },
            { weight: 2, arbitrary: fc.oneof(tokenShaped, base64url(43), fc.constant('null')).map(text) },
          ),
          fc.constantFrom('', '', '', ' ', ', Bearer x', ' extra'),
        )
        .map(([scheme, value, tail]) => [text(scheme), value, text(tail)]),
    },
  );

const csrfHeader = (context: CaseContext): fc.Arbitrary<Part[] | undefined> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.oneof(anyText.map(headerValue), base64url(86), fc.constant('')).map((value) => [text(value)]) },
    { weight: 2, arbitrary: ref(context, 30).map((r) => [{ kind: 'session-csrf', ref: r } as Part]) },
    { weight: 2, arbitrary: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: mutations }).map((steps) => [{ kind: 'anonymous-csrf', steps } as Part]) },
  );

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16le',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/jsonx',
  'application/*+json',
  'application/vnd.api+json',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=----fuzz',
  'multipart/form-data',
  'application/octet-stream',
  'application/json, text/html',
  ';',
  '',
];
const contentType = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 8, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: anyText.map(headerValue) },
);

const simpleHeader = (absentWeight: number, values: fc.Arbitrary<string>) =>
  fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: values });

// ——— bodies ———

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  anyText,
  fc.constantFrom(null, true, 0, -1, Number.MAX_VALUE, Number.MIN_VALUE, '', [], {}, ['admin'], { $gt: '' }),
);

const bodyFields = (context: CaseContext) => {
  const email = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...context.decoys.map((decoy) => decoy.email)) },
    { weight: 1, arbitrary: fc.constantFrom(...context.decoys.map((decoy) => decoy.email.toUpperCase()), ` ${context.decoys[0]?.email ?? ''} `) },
    { weight: 2, arbitrary: fc.emailAddress() },
    { weight: 2, arbitrary: anyValue },
  );
  const password = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...context.decoys.map((decoy) => decoy.password)) },
    { weight: 2, arbitrary: fc.string({ minLength: 8, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom('', 'short', 'x'.repeat(129), 'x'.repeat(1025), '\u0000'.repeat(8), '\ud800'.repeat(8)) },
    { weight: 2, arbitrary: anyValue },
  );
  const roles = fc.oneof(fc.array(fc.constantFrom('user', 'admin', 'Admin', '', 'a'.repeat(40), '__proto__'), { maxLength: 20 }), anyValue);
  return fc.record(
    { email, password, name: fc.oneof(anyText, anyValue), remember: anyValue, currentPassword: password, newPassword: password, roles, _csrf: anyText },
    { requiredKeys: [] },
  );
};

const POLLUTION = [
  '{"__proto__":{"roles":["admin"],"isAdmin":true,"admin":true}}',
  '{"constructor":{"prototype":{"roles":["admin"]}}}',
  '{"__proto__":null,"email":"a@b.c","password":"correct horse battery","name":"x"}',
  '{"email":"a@b.c","email":"b@c.d","password":["x"],"password":"y"}',
  '{"roles":{"__proto__":["admin"]}}',
  '{"toString":1,"valueOf":2,"hasOwnProperty":3}',
];
const MALFORMED = ['{', '}', '{"email":', '{"email":"a@b.c",}', "{'email':'a'}", 'NaN', '[', 'nul', 'true false', '{"a":1}{"b":2}', '\ufeff{}', '/* c */{}', '{"a":"\u0000\u0001\u001f"}', '"\\ud800"', '{"a":"\\u0000"}', '{"email":1e309,"password":-0}'];

const body = (context: CaseContext): fc.Arbitrary<string | Uint8Array | undefined> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    { weight: 5, arbitrary: bodyFields(context).map((fields) => JSON.stringify(fields)) },
    { weight: 2, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    { weight: 2, arbitrary: fc.oneof(anyText, fc.constantFrom(...MALFORMED)) },
    { weight: 1, arbitrary: bodyFields(context).chain((fields) => fc.nat().map((cut) => JSON.stringify(fields).slice(0, cut % 200))) },
    { weight: 1, arbitrary: fc.constantFrom(...POLLUTION) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(['[', ']'], ['{"a":', '}'], ['{"email":[', ']}']), fc.integer({ min: 50, max: 9_000 }))
        .map(([[open, close], depth]) => (open as string).repeat(depth) + '1' + (close as string).repeat(depth)),
    },
    { weight: 1, arbitrary: hugeText.map((value) => JSON.stringify({ email: value, password: value, name: value })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    {
      weight: 1,
      arbitrary: bodyFields(context).map((fields) =>
        Object.entries(fields)
          .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(typeof value === 'string' ? value.replace(/[\ud800-\udfff]/g, '') : JSON.stringify(value) ?? '')}`)
          .join('&'),
      ),
    },
    { weight: 1, arbitrary: fc.constantFrom('__proto__[admin]=1&email=a', 'email=&email=&password[]=x', 'constructor[prototype][x]=1', '%zz=%zz', '&&&===') },
  );

// ——— the case ———

export function requestPlan(context: CaseContext, targets: number): fc.Arbitrary<RequestPlan> {
  return fc
    .record({
      target: fc.integer({ min: 0, max: targets - 1 }),
      route: route(context),
      cookie: cookieHeader(context),
      authorization: authorizationHeader(context),
      csrf: csrfHeader(context),
      contentType,
      origin: simpleHeader(8, fc.constantFrom('null', 'http://evil.example', 'http://127.0.0.1', 'http://127.0.0.1:1', 'file://', 'http://127.0.0.1.evil.example', '*')),
      fetchSite: simpleHeader(8, fc.oneof(fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none'), anyText.map(headerValue))),
      forwardedFor: simpleHeader(4, fc.oneof(fc.ipV4().map((ip) => `203.0.113.${ip.split('.')[3] ?? '1'}`), fc.ipV6(), anyText.map(headerValue), fc.constant('1.2.3.4, 5.6.7.8, ::1'))),
      accept: fc.oneof({ weight: 12, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom('text/html', '*/*', '', 'text/html;q=0, application/json') }),
      userAgent: simpleHeader(6, fc.oneof(anyText.map(headerValue), hugeText.map((value) => headerValue(value).slice(0, 8_000)))),
      body: body(context),
    })
    .map((c) => {
      const headers: [string, Part[]][] = [];
      const add = (name: string, parts: Part[] | string | undefined) => {
        if (parts !== undefined) headers.push([name, typeof parts === 'string' ? [text(parts)] : parts]);
      };
      add('cookie', c.cookie);
      add('authorization', c.authorization);
      add('x-csrf-token', c.csrf);
      add('content-type', c.contentType);
      add('origin', c.origin);
      add('sec-fetch-site', c.fetchSite);
      add('x-forwarded-for', c.forwardedFor);
      add('accept', c.accept);
      add('user-agent', c.userAgent ?? 'keycard-fuzz');
      return { target: c.target, method: c.route.method, path: c.route.path, headers, body: c.body };
    });
}

/** The concrete request for a plan, with the pool's current credentials. */
export function resolve(plan: RequestPlan, pool: AccountPool): HttpRequest {
  const valueOf = (part: Part): string => {
    switch (part.kind) {
      case 'text':
        return part.text;
      case 'user-id':
        return accountOf(pool, part.account).id;
      case 'session-cookie':
        return mutate(accountOf(pool, part.ref.account).cookie, part.ref.steps);
      case 'bearer':
        return mutate(accountOf(pool, part.ref.account).bearer, part.ref.steps);
      case 'session-csrf':
        return mutate(accountOf(pool, part.ref.account).csrf, part.ref.steps);
      case 'anonymous-csrf-cookie':
        return mutate(pool.anonymous.cookie, part.steps);
      case 'anonymous-csrf':
        return mutate(pool.anonymous.token, part.steps);
    }
  };
  const path = plan.path.map(valueOf).join('');
  const headers: Record<string, string> = {};
  for (const [name, parts] of plan.headers) headers[name] = headerValue(parts.map(valueOf).join(''));
  return { method: plan.method, path: path.startsWith('/') ? pathSafeKeepingEscapes(path) : `/${pathSafeKeepingEscapes(path)}`, headers, body: plan.body };
}

function accountOf(pool: AccountPool, index: number): Account {
  const found = pool.accounts[index % pool.accounts.length];
  if (!found) throw new Error('the account pool is empty');
  return found;
}

/** Mutations may put any character in a path: encode what HTTP cannot carry, keep what it can (`%` included). */
function pathSafeKeepingEscapes(path: string): string {
  return path.replace(/[^\x21-\x7e]+/g, (run) => encodeURIComponent(run.replace(/[\ud800-\udfff]/g, '\ufffd')));
}

/** The case with credentials named, not shown (`<bearer of account 1, mutated: replace@0.42>`): replayable and secret-free. */
export function describePlan(plan: RequestPlan): string {
  const show = (part: Part): string => {
    switch (part.kind) {
      case 'text':
        return part.text.length > 80 ? `${part.text.slice(0, 80)}…(${part.text.length} chars)` : part.text;
      case 'user-id':
        return `<id of account ${part.account}>`;
      case 'anonymous-csrf-cookie':
      case 'anonymous-csrf':
        return `<${part.kind}${describeSteps(part.steps)}>`;
      default:
        return `<${part.kind} of account ${part.ref.account}${describeSteps(part.ref.steps)}>`;
    }
  };
  const headers = plan.headers.map(([name, parts]) => `${name}: ${parts.map(show).join('')}`).join('; ');
  const body =
    plan.body === undefined
      ? 'no body'
      : typeof plan.body === 'string'
        ? `body ${JSON.stringify(plan.body.length > 120 ? `${plan.body.slice(0, 120)}…` : plan.body)} (${plan.body.length} chars)`
        : `body of ${plan.body.length} random bytes`;
  return `${plan.method} ${plan.path.map(show).join('')} to instance ${plan.target} {${headers}} ${body}`;
}

function describeSteps(steps: readonly Mutation[]): string {
  if (steps.length === 0) return ', exact';
  return `, mutated: ${steps.map((step) => `${step.op}${'at' in step ? `@${step.at.toFixed(2)}` : ''}`).join('+')}`;
}
