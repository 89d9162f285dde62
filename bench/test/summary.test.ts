import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sample, VariantInfo } from '../src/report/results.js';
import { summarize } from '../src/report/summary.js';

function info(name: string, platform: 'express' | 'fastify', ceiling = false): VariantInfo {
  return { name, label: name, title: name, platform, ceiling, keycard: name.startsWith('keycard'), store: 'redis' };
}

function sample(variant: string, round: number, rps: number, cpu: number): Sample {
  return { variant, round, requests: rps * 10, seconds: 10, rps, p50Ms: 1, p99Ms: 2, cpuMicrosPerRequest: cpu };
}

const variants = [
  info('fastify', 'fastify', true),
  info('fastify-session', 'fastify'),
  info('fastify-session-norolling', 'fastify'),
  info('keycard-fastify-redis', 'fastify'),
];

describe('summarize', () => {
  const summary = summarize({
    variants,
    commands: {},
    samples: [
      sample('fastify', 1, 10_000, 100),
      sample('fastify', 2, 8_000, 110),
      sample('fastify', 3, 9_000, 90),
      sample('fastify-session', 1, 3_000, 300),
      sample('fastify-session-norolling', 1, 4_000, 200),
      sample('keycard-fastify-redis', 1, 8_100, 120),
    ],
  });
  const byName = new Map(summary.variants.map((v) => [v.name, v]));

  it('summarize — medians over rounds, with the spread kept', () => {
    const ceiling = byName.get('fastify');
    assert.equal(ceiling?.rps, 9_000);
    assert.equal(ceiling?.cpuMicros, 100);
    assert.equal(ceiling?.rpsMin, 8_000);
    assert.equal(ceiling?.rpsMax, 10_000);
  });

  it("summarize — each variant against its platform's ceiling, in throughput and extra CPU", () => {
    const keycard = byName.get('keycard-fastify-redis');
    assert.equal(keycard?.vsCeiling, 0.9);
    assert.equal(keycard?.extraCpuMicros, 20);
  });

  it("summarize — the issue's ratios and their verdicts", () => {
    const verdict = (label: string) => summary.verdicts.find((v) => v.label === label);
    assert.equal(verdict('keycard Fastify+Redis / Fastify ceiling (one hot session)')?.met, true);
    assert.equal(verdict('keycard Fastify+Redis / @fastify/session defaults')?.value, 2.7);
    assert.equal(verdict('keycard Fastify+Redis / @fastify/session defaults')?.met, true);
    assert.equal(verdict('keycard Fastify+Redis / @fastify/session rolling:false')?.value, 2.025);
    assert.equal(verdict('keycard Fastify+Redis session CPU over ceiling')?.met, true);
  });

  it('summarize — 0.8 of the ceiling is the bar for Fastify+Redis (issue 12), so 0.79 misses it', () => {
    const below = summarize({
      variants,
      commands: {},
      samples: [sample('fastify', 1, 10_000, 100), sample('keycard-fastify-redis', 1, 7_900, 120)],
    });
    const ratio = below.verdicts.find((v) => v.label === 'keycard Fastify+Redis / Fastify ceiling (one hot session)');
    assert.equal(ratio?.met, false);
  });

  it('summarize — the 1 000-session pair is compared with itself, not with the one-session runs', () => {
    const many = summarize({
      variants: [...variants, info('fastify-session-norolling-1k', 'fastify'), info('keycard-fastify-redis-1k', 'fastify')],
      commands: {},
      samples: [
        sample('fastify', 1, 10_000, 100),
        sample('fastify-session-norolling-1k', 1, 4_000, 200),
        sample('keycard-fastify-redis-1k', 1, 6_400, 150),
        sample('keycard-fastify-redis', 1, 9_000, 110),
      ],
    });
    const pair = many.verdicts.find((v) => v.label.includes('1 000 sessions'));
    assert.equal(pair?.value, 1.6);
    assert.equal(pair?.met, true);
  });

  it('summarize — an information ratio carries a value and no verdict', () => {
    const drivers = summarize({
      variants: [info('fastify', 'fastify', true), info('keycard-fastify-postgres', 'fastify'), info('keycard-fastify-postgres-js', 'fastify')],
      commands: {},
      samples: [sample('fastify', 1, 10_000, 100), sample('keycard-fastify-postgres', 1, 2_000, 300), sample('keycard-fastify-postgres-js', 1, 2_500, 250)],
    });
    const ratio = drivers.verdicts.find((v) => v.kind === 'info' && v.numerator === 'keycard-fastify-postgres-js');
    assert.equal(ratio?.value, 1.25);
    assert.equal(ratio?.met, undefined);
  });

  it('summarize — a target whose variants did not run is left unjudged, not failed', () => {
    const express = summary.verdicts.find((v) => v.label === 'keycard Express+Redis / Express ceiling');
    assert.equal(express?.value, undefined);
    assert.equal(express?.met, undefined);
  });

  it('summarize — a variant without samples is left out', () => {
    const empty = summarize({ variants, commands: {}, samples: [sample('fastify', 1, 100, 1)] });
    assert.deepEqual(
      empty.variants.map((v) => v.name),
      ['fastify'],
    );
  });

  it('summarize — more CPU than the target misses it', () => {
    const slow = summarize({
      variants,
      commands: {},
      samples: [sample('fastify', 1, 10_000, 100), sample('keycard-fastify-redis', 1, 5_000, 136)],
    });
    const cpu = slow.verdicts.find((v) => v.label === 'keycard Fastify+Redis session CPU over ceiling');
    assert.equal(cpu?.value, 36);
    assert.equal(cpu?.met, false);
  });
});
