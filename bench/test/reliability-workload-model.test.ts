import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Journal } from '../src/reliability/workload/journal.js';
import { seeded } from '../src/reliability/workload/random.js';
import { SimulatedUser } from '../src/reliability/workload/user.js';
import { FakeDemo, type FakeBug } from './support/fake-demo.js';

/** Runs simulated users against a fake server for a moment; the number of wrong answers they saw. */
async function wrongAnswersAgainst(bug: FakeBug): Promise<{ wrong: number; examples: string[]; operations: number }> {
  const fake = new FakeDemo(bug);
  const base = await fake.start();
  const journal = new Journal({ allows503: () => false });
  const users = Array.from(
    { length: 4 },
    (_, index) => new SimulatedUser({ instances: [base], journal, random: seeded(index + 1), deadline: Infinity, maxOperations: 150 }),
  );
  try {
    await Promise.all(users.map((user) => user.run()));
    for (const user of users) await user.verifyAll();
  } finally {
    await fake.stop();
  }
  return { wrong: journal.wrongCount, examples: journal.wrong, operations: Object.values(journal.operations).reduce((a, b) => a + b, 0) };
}

describe('the workload model', () => {
  it('sees no wrong answer from a server that keeps the session rules', async () => {
    const { wrong, examples, operations } = await wrongAnswersAgainst('none');
    assert.ok(operations >= 4 * 150, `only ${operations} operations ran`);
    assert.equal(wrong, 0, examples.join('\n'));
  });

  it('sees no wrong answer from a server that refuses password hashing when its queue is full (503 KEYCARD_OVERLOADED + Retry-After) and changes nothing', async () => {
    const { wrong, examples, operations } = await wrongAnswersAgainst('overloaded');
    assert.ok(operations >= 4 * 150, `only ${operations} operations ran`);
    assert.equal(wrong, 0, examples.join('\n'));
  });

  for (const bug of ['sign-out-keeps-session', 'revoke-keeps-session', 'password-keeps-others', 'rotation-keeps-old-id', 'overloaded-but-changed'] as const) {
    it(`counts wrong answers from a server whose ${bug}`, async () => {
      const { wrong } = await wrongAnswersAgainst(bug);
      assert.ok(wrong > 0, `the model did not notice: ${bug}`);
    });
  }
});
