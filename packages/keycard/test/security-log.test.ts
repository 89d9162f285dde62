import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle, MemoryRateLimitStore, SecurityLog, SessionEvents, securityLogLine } from '../src/index.js';
import { manualClock } from './support/clock.js';

// Finding 15 of issue 13: failed sign-ins, lockouts, CSRF refusals and store outages went to no log.
describe('SecurityLog', () => {
  it('securityLogLine — one line per security event, ids hashed; other events give none', () => {
    const at = 0;
    assert.equal(
      securityLogLine({ type: 'signInFailed', handle: null, userId: null, at, reason: 'bad-password', subject: 'AbCdEfGhIjKlMnOp' }),
      'security: signInFailed reason=bad-password account=AbCdEfGhIjKlMnOp',
    );
    assert.equal(securityLogLine({ type: 'lockedOut', handle: null, userId: null, at, reason: 'account', subject: 'x' }), 'security: lockedOut scope=account account=x');
    const csrf = securityLogLine({ type: 'csrfRefused', handle: 'the-public-handle', userId: 'user-42', at, reason: 'missing' }) ?? '';
    assert.match(csrf, /^security: csrfRefused reason=missing user=[A-Za-z0-9_-]{12} session=[A-Za-z0-9_-]{12}$/);
    assert.ok(!csrf.includes('the-public-handle') && !csrf.includes('user-42'), csrf);
    assert.equal(securityLogLine({ type: 'created', handle: 'h', userId: 'u', at }), null);
    assert.equal(securityLogLine({ type: 'revoked', handle: 'h', userId: 'u', at, reason: 'revoked' }), null);
  });

  it('writes what LoginThrottle reports, and never the e-mail or the address', async () => {
    const events = new SessionEvents();
    const lines: string[] = [];
    const log = new SecurityLog(events, (line) => lines.push(line));
    const throttle = new LoginThrottle({ store: new MemoryRateLimitStore({ sweepInterval: 0 }), maxAttempts: 1, events });
    const decision = await throttle.check('victim@example.com', '203.0.113.9');
    assert.ok(decision.allowed);
    throttle.recordFailure(decision.attempt);
    await throttle.check('victim@example.com', '203.0.113.9');
    log.close();
    await throttle.check('victim@example.com', '203.0.113.9');
    assert.deepEqual(
      lines.map((line) => line.replace(/account=\S+/, 'account=*')),
      ['security: signInFailed reason=bad-password account=*', 'security: lockedOut scope=account account=*', 'security: signInFailed reason=throttled account=*'],
    );
    assert.ok(lines.every((line) => !line.includes('victim') && !line.includes('203.0.113.9')));
  });

  it('coalesces outage lines: one per operation per 10 s, then says how many were left out', () => {
    const events = new SessionEvents();
    const clock = manualClock();
    const lines: string[] = [];
    new SecurityLog(events, (line) => lines.push(line), clock);
    const outage = (reason: string) => events.emit({ type: 'storeUnavailable', handle: null, userId: null, at: clock.now(), reason });
    for (let i = 0; i < 50; i++) outage('session store: find');
    outage('session store: ping');
    clock.advance(10_000);
    outage('session store: find');
    assert.deepEqual(lines, [
      'security: storeUnavailable reason=session store: find',
      'security: storeUnavailable reason=session store: ping',
      'security: storeUnavailable reason=session store: find (and 49 more since the last line)',
    ]);
  });
});
