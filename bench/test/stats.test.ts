import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median } from '../src/report/stats.js';
import { roundOrder } from '../src/schedule.js';

describe('median', () => {
  it('median — the middle value of an odd count, whatever the order', () => {
    assert.equal(median([9, 1, 5]), 5);
  });
  it('median — the mean of the middle two of an even count', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });
  it('median — undefined for no values', () => {
    assert.equal(median([]), undefined);
  });
});

describe('roundOrder', () => {
  it('roundOrder — rotates by the round, so each variant leads a different round', () => {
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 0), ['a', 'b', 'c']);
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
    assert.deepEqual(roundOrder(['a', 'b', 'c'], 4), ['b', 'c', 'a']);
  });
  it('roundOrder — an empty list stays empty', () => {
    assert.deepEqual(roundOrder([], 2), []);
  });
});
