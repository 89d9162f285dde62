import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { PostgresStore, pgliteClient } from '../src/postgres/index.js';
import { samplePrincipal, sampleRecord } from '../src/testing/index.js';

describe('PostgresStore on a file-backed PGlite', () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('create/find — sessions survive closing and reopening the data directory', async () => {
    dir = await mkdtemp(join(tmpdir(), 'keycard-pglite-'));
    const principal = samplePrincipal();
    const record = sampleRecord({ principal, data: { theme: 'dark' }, remember: true });

    const first = await PGlite.create(dir);
    try {
      const store = new PostgresStore({ client: pgliteClient(first), migrate: true, sweepInterval: 0 });
      await store.create(record);
      assert.equal(await store.update(record.id, { set: { cart: [1, 2] } }), true);
      await store.close();
    } finally {
      await first.close();
    }

    const reopened = await PGlite.create(dir);
    try {
      const store = new PostgresStore({ client: pgliteClient(reopened), migrate: true, sweepInterval: 0 });
      assert.deepEqual(await store.find(record.id, record.lastSeenAt, Infinity), {
        ...record,
        data: { theme: 'dark', cart: [1, 2] },
      });
      assert.deepEqual((await store.listByUser(principal.id, Date.now())).map((r) => r.id), [record.id]);
      await store.close();
    } finally {
      await reopened.close();
    }
  });
});
