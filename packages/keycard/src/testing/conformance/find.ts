import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isLive, touchDue, touched, type SessionRecord } from '../../core/record.js';
import { MINUTE, sampleRecord } from './samples.js';
import type { SuiteContext } from './context.js';

/** The conformance group for `find`, including the touch rule. */
export function describeFind({ fresh }: SuiteContext): void {
  it('find — returns null for an unknown id', async () => {
    const store = await fresh();
    assert.equal(await store.find(sampleRecord().id, Date.now(), Infinity), null);
  });

  it('find — returns an independent copy', async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { list: [1] } });
    await store.create(record);
    const first = await store.find(record.id, Date.now(), Infinity);
    assert.ok(first);
    (first.data['list'] as number[]).push(2);
    assert.deepEqual((await store.find(record.id, Date.now(), Infinity))?.data, { list: [1] });
  });

  it('find — does not touch inside the touch interval', async () => {
    const store = await fresh();
    const record = sampleRecord();
    await store.create(record);
    const found = await store.find(record.id, record.lastSeenAt + MINUTE, 5 * MINUTE);
    assert.equal(found?.lastSeenAt, record.lastSeenAt);
    assert.equal(found?.idleExpiresAt, record.idleExpiresAt);
  });

  it('find — touches once the interval has passed, and keeps it', async () => {
    const store = await fresh();
    const record = sampleRecord();
    await store.create(record);
    const later = record.lastSeenAt + 10 * MINUTE;
    const found = await store.find(record.id, later, 5 * MINUTE);
    assert.equal(found?.lastSeenAt, later);
    assert.equal(found?.idleExpiresAt, later + record.idleTimeout);
    const again = await store.find(record.id, later, Infinity);
    assert.equal(again?.lastSeenAt, later);
    assert.equal(again?.idleExpiresAt, later + record.idleTimeout);
  });

  it('find — a touch never extends past the absolute expiry', async () => {
    const store = await fresh();
    const now = Date.now();
    const record = sampleRecord({ absoluteExpiresAt: now + 35 * MINUTE });
    await store.create(record);
    const found = await store.find(record.id, now + 20 * MINUTE, MINUTE);
    assert.equal(found?.idleExpiresAt, now + 35 * MINUTE);
  });

  it('find — never touches an expired record back to life', async () => {
    const store = await fresh();
    const now = Date.now();
    const record = sampleRecord({ idleTimeout: MINUTE, idleExpiresAt: now + MINUTE });
    await store.create(record);
    const found = await store.find(record.id, now + 2 * MINUTE, 0);
    if (found !== null) assert.equal(found.idleExpiresAt, now + MINUTE);
    const again = await store.find(record.id, now + 2 * MINUTE, Infinity);
    if (again !== null) assert.equal(again.idleExpiresAt, now + MINUTE);
  });

  /**
   * The touch rule is written once, in record.ts (`touchDue`, `touched`);
   * the memory store calls it, and the Redis FIND script and the PostgreSQL
   * statement restate it in their own language. These cases hold every
   * store to that one definition at its boundaries.
   */
  const touchCases: ReadonlyArray<readonly [string, (base: number) => Partial<SessionRecord>, number, number]> = [
    // [case, record fields relative to base, now - base, touch interval]
    ['exactly one interval since the last touch', () => ({}), 5 * MINUTE, 5 * MINUTE],
    ['one millisecond short of the interval', () => ({}), 5 * MINUTE - 1, 5 * MINUTE],
    ['a zero interval', () => ({}), 1, 0],
    ['an infinite interval', () => ({}), 20 * MINUTE, Infinity],
    ['a touch clamped to the absolute expiry', (base) => ({ idleExpiresAt: base + 12 * MINUTE, absoluteExpiresAt: base + 12 * MINUTE }), 10 * MINUTE, MINUTE],
    ['the instant the idle expiry is reached', (base) => ({ idleTimeout: MINUTE, idleExpiresAt: base + MINUTE }), MINUTE, 0],
    ['the instant the absolute expiry is reached', (base) => ({ idleExpiresAt: base + 20 * MINUTE, absoluteExpiresAt: base + 20 * MINUTE }), 20 * MINUTE, 0],
  ];
  for (const [what, fields, elapsed, interval] of touchCases) {
    it(`find — applies the touch rule of record.ts: ${what}`, async () => {
      const store = await fresh();
      const base = Date.now();
      const record = sampleRecord({ createdAt: base, lastSeenAt: base, ...fields(base) });
      await store.create(record);
      const now = base + elapsed;
      const expected = touchDue(record, now, interval) ? touched(record, now) : record;
      const found = await store.find(record.id, now, interval);
      // A store may already have dropped a record that expired (a TTL); one it returns must follow the rule.
      if (found === null && !isLive(record, now)) return;
      assert.deepEqual(found, expected);
    });
  }
}
