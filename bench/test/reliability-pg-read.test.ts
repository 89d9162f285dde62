import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgRead, type DriverFigures } from '../src/reliability/pg-read.js';
import { postgresSkip } from './support/services.js';

describe('pg-read experiment (quick scale)', { skip: await postgresSkip() }, () => {
  it("runs keycard's own read statement through pg (unnamed, and pgPoolClient) and postgresJsClient", async () => {
    const outcome = await pgRead.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as { statement: string; figures: DriverFigures[] };
    // The captured statement is the store's touch-aware read, not a stand-in query.
    assert.match(data.statement, /UPDATE .* SET last_seen_at/s);
    assert.deepEqual(
      data.figures.map((figure) => figure.driver),
      ['pg, unnamed statement', 'pg, named prepared statement (pgPoolClient)', 'postgres, prepared (postgresJsClient)'],
    );
    for (const figure of data.figures) {
      assert.ok(figure.queriesPerSecond > 0 && Number.isFinite(figure.queriesPerSecond), figure.driver);
      assert.ok(figure.cpuMicrosPerQuery > 0 && Number.isFinite(figure.cpuMicrosPerQuery), figure.driver);
    }
  });
});
