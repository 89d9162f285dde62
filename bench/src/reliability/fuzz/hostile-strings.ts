/**
 * Hostile strings for the fuzz experiment: fully random text, and near-valid
 * values made by mutating a real one (a signed token, a cookie) so that they
 * get past shape checks and reach the code behind them.
 *
 * Mutations are data, applied late (`mutate`), so an HTTP case can name "the
 * current valid cookie of account 1, with its 40th character replaced" even
 * though that cookie is only known when the case is sent.
 */
import fc from 'fast-check';

export type Mutation =
  /** `at` is a fraction of the length, so one mutation fits any value. */
  | { readonly op: 'replace'; readonly at: number; readonly text: string }
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'extend'; readonly text: string }
  | { readonly op: 'flip-case'; readonly at: number }
  | { readonly op: 'wrap'; readonly before: string; readonly after: string }
  | { readonly op: 'repeat'; readonly times: number }
  | { readonly op: 'huge'; readonly length: number };

/** Characters that mean something to some parser on the way: separators, quotes, base64 (not url) and padding. */
const SPECIAL = ['.', ';', ',', '=', ' ', '\t', '"', "'", '\\', '+', '/', '-', '_', '%', '%00', '%2e', '\0', '\r\n', '\u00e9', '\u2028', '\ud83d\ude00', '\ud800', '\ufeff'];

/** Any text, from the dangerous-looking characters up to every code unit (lone surrogates included). */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 64 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...SPECIAL), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
);

/** Something shaped like `<43 base64url>.<43 base64url>`, but not signed by anybody. */
export const tokenShaped: fc.Arbitrary<string> = fc
  .tuple(base64url(43), base64url(43))
  .map(([token, signature]) => `${token}.${signature}`);

export function base64url(length: number): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
    minLength: length,
    maxLength: length,
  });
}

/** Uniform (fast-check's default bias would put nearly every mutation at position 0). */
const fraction = fc.noBias(fc.integer({ min: 0, max: 9_999 })).map((n) => n / 10_000);
const smallText = fc.oneof(fc.constantFrom(...SPECIAL), base64url(1), anyText);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fraction, text: fc.oneof(base64url(1), smallText) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fraction, text: smallText }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fraction, count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fraction }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('extend' as const), text: smallText }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('flip-case' as const), at: fraction }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), before: smallText, after: smallText }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), times: fc.integer({ min: 2, max: 4 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('huge' as const),
      // Mostly under Node's 16 KiB header limit, so that the value reaches the app; sometimes past it.
      length: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 4_096, max: 12_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 40_000 }) }),
    }),
  },
);

/** One to three mutations, applied in order. */
export const mutations: fc.Arbitrary<readonly Mutation[]> = fc.array(mutation, { minLength: 1, maxLength: 3 });

export function mutate(value: string, steps: readonly Mutation[]): string {
  return steps.reduce(applyOne, value);
}

function applyOne(value: string, step: Mutation): string {
  const at = 'at' in step ? Math.min(value.length, Math.floor(step.at * value.length)) : 0;
  switch (step.op) {
    case 'replace':
      return value.slice(0, at) + step.text + value.slice(at + 1);
    case 'insert':
      return value.slice(0, at) + step.text + value.slice(at);
    case 'delete':
      return value.slice(0, at) + value.slice(at + step.count);
    case 'truncate':
      return value.slice(0, at);
    case 'extend':
      return value + step.text;
    case 'flip-case': {
      const char = value.charAt(at);
      const flipped = char === char.toUpperCase() ? char.toLowerCase() : char.toUpperCase();
      return value.slice(0, at) + flipped + value.slice(at + 1);
    }
    case 'wrap':
      return step.before + value + step.after;
    case 'repeat':
      return value.repeat(step.times);
    case 'huge':
      return value + 'A'.repeat(Math.max(0, step.length - value.length));
  }
}

/** A long string, past every size limit on the way (cookie header, body, field). */
export const hugeText: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('A', '\u00e9', '\ud83d\ude00', '%', ';', '"', '\\u0000'), fc.integer({ min: 4_096, max: 70_000 }))
  .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)));
