/**
 * An estimate of the V8 heap a JSON-like value holds, for the session
 * cache's `maxBytes` bound. The length of a record's JSON undercounts it
 * about 2.7 times (measured by the cache-footprint experiment): every string
 * and object has a header, a timestamp is a boxed double, and the cache's
 * own maps cost per entry. The sizes are V8's on 64-bit Node.js (no pointer
 * compression): a header of two words on strings, three on objects, and a
 * 16-byte box for any number that is not a 31-bit integer.
 * `session-cache.test.ts` checks the estimate against the heap actually used.
 */

const WORD = 8;
const STRING_HEADER = 16;
const OBJECT_HEADER = 3 * WORD;
/** A JSArray (map, properties, elements, length) and its backing store's header. */
const ARRAY_HEADER = 4 * WORD + 2 * WORD;
const HEAP_NUMBER = 16;
/** A dictionary-mode object's entry (name, value, details) in a table kept at most half full. */
const DICTIONARY_ENTRY = 2 * 3 * WORD;

const roundUp = (bytes: number): number => Math.ceil(bytes / WORD) * WORD;

// Characters beyond Latin-1 make V8 store the whole string with two bytes per character.
const TWO_BYTE = /[^\u0000-\u00ff]/;

export function stringHeapBytes(value: string): number {
  return roundUp(STRING_HEADER + value.length * (TWO_BYTE.test(value) ? 2 : 1));
}

/**
 * Heap bytes of `value`. Property names are not counted: they are interned
 * and shared by every object of the same shape.
 */
export function heapBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return stringHeapBytes(value);
    case 'number':
      return Number.isInteger(value) && Math.abs(value) < 2 ** 30 ? 0 : HEAP_NUMBER;
    case 'object': {
      if (value === null) return 0;
      if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + WORD + heapBytes(item), ARRAY_HEADER);
      let sum = OBJECT_HEADER;
      for (const item of Object.values(value)) sum += WORD + heapBytes(item);
      return sum;
    }
    default:
      return 0;
  }
}

/**
 * What an object whose property names are data (a principal's claims, keyed
 * by whatever the app chose: per-resource grants keyed by id) holds beyond
 * `heapBytes`: every name may be a string of its own, and V8 keeps an object
 * with many names of its own as a dictionary. Counted for every name, also
 * the shared ones: the bound errs on the side of holding less.
 */
export function ownNamesHeapBytes(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + ownNamesHeapBytes(item), 0);
  let sum = 0;
  for (const [name, item] of Object.entries(value)) sum += stringHeapBytes(name) + DICTIONARY_ENTRY - WORD + ownNamesHeapBytes(item);
  return sum;
}
