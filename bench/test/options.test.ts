import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseOptions } from '../src/options.js';
import { selectVariants, VARIANTS } from '../src/variants.js';

describe('parseOptions', () => {
  it('parseOptions — defaults: 3 rounds of 10 s, 5 s warm-up, 10 connections, 1000 counted reads', () => {
    const options = parseOptions([]);
    assert.equal(options.rounds, 3);
    assert.equal(options.duration, 10);
    assert.equal(options.warmup, 5);
    assert.equal(options.connections, 10);
    assert.equal(options.commandReads, 1000);
    assert.equal(options.only, undefined);
    assert.equal(options.outDir, undefined);
  });
  it('parseOptions — reads every option', () => {
    const options = parseOptions(['--rounds', '1', '--duration', '2', '--warmup', '0', '--only', 'fastify, keycard-fastify-redis', '--commands', '0']);
    assert.equal(options.rounds, 1);
    assert.equal(options.duration, 2);
    assert.equal(options.warmup, 0);
    assert.deepEqual(options.only, ['fastify', 'keycard-fastify-redis']);
    assert.equal(options.commandReads, 0);
  });
  it('parseOptions — rejects a duration that is not a positive number', () => {
    assert.throws(() => parseOptions(['--duration', '0']), /--duration must be a positive number/);
    assert.throws(() => parseOptions(['--duration', 'ten']), /--duration must be a positive number/);
  });
  it('parseOptions — rejects a fractional round count and unknown flags', () => {
    assert.throws(() => parseOptions(['--rounds', '1.5']), /--rounds must be a whole number/);
    assert.throws(() => parseOptions(['--fast']), /Unknown option/);
  });
});

describe('selectVariants', () => {
  it('selectVariants — all variants when none is named', () => {
    assert.equal(selectVariants(undefined).length, VARIANTS.length);
  });
  it("selectVariants — adds each named variant's ceiling, in catalogue order", () => {
    assert.deepEqual(
      selectVariants(['keycard-express-redis', 'fastify-session']).map((v) => v.name),
      ['express', 'fastify', 'fastify-session', 'keycard-express-redis'],
    );
  });
  it('selectVariants — names the unknown variant and lists the known ones', () => {
    assert.throws(() => selectVariants(['express-sesion']), /unknown variant express-sesion; known: express, fastify/);
  });
});
