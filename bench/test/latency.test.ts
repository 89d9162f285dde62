import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyRecorder } from '../src/harness/latency.js';
import { cookieHeader } from '../src/harness/sign-in.js';

describe('LatencyRecorder', () => {
  it('percentiles — nearest rank, with the fractions autocannon would round away', () => {
    const recorder = new LatencyRecorder();
    for (let i = 100; i >= 1; i--) recorder.record(i / 100);
    assert.deepEqual(recorder.percentiles(50, 99, 100), [0.5, 0.99, 1]);
  });
  it('record — grows past its initial capacity', () => {
    const recorder = new LatencyRecorder();
    for (let i = 0; i < 70_000; i++) recorder.record(1);
    recorder.record(2);
    assert.equal(recorder.size, 70_001);
    assert.deepEqual(recorder.percentiles(100), [2]);
  });
  it('percentiles — NaN when nothing was recorded', () => {
    assert.ok(Number.isNaN(new LatencyRecorder().percentiles(50)[0]));
  });
});

describe('cookieHeader', () => {
  it('cookieHeader — name=value pairs of Set-Cookie lines, attributes dropped', () => {
    assert.equal(
      cookieHeader(['sid=abc.def; Path=/; HttpOnly; SameSite=Lax', 'theme=dark; Path=/']),
      'sid=abc.def; theme=dark',
    );
  });
  it('cookieHeader — leaves out cookies being cleared', () => {
    assert.equal(cookieHeader(['sid=; Max-Age=0', 'other=1']), 'other=1');
  });
});
