import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartBars, renderChart } from '../src/report/chart.js';
import type { ResultsFile, Sample, VariantInfo } from '../src/report/results.js';

function info(name: string, platform: 'express' | 'fastify', ceiling = false): VariantInfo {
  return { name, label: name.length.toString(), title: name, platform, ceiling, keycard: name.startsWith('keycard'), store: 'redis' };
}

function sample(variant: string, round: number, rps: number): Sample {
  return { variant, round, requests: rps * 10, seconds: 10, rps, p50Ms: 1, p99Ms: 2, cpuMicrosPerRequest: 100 };
}

const results: ResultsFile = {
  schema: 1,
  startedAt: '2026-12-02T23:00:00.000Z',
  finishedAt: '2026-12-02T23:10:00.000Z',
  options: { rounds: 2, duration: 10, warmup: 5, connections: 10, commandReads: 0 },
  machine: {} as ResultsFile['machine'],
  versions: {},
  variants: [info('express', 'express', true), info('keycard-express-redis', 'express'), info('fastify', 'fastify', true), info('fastify-session', 'fastify'), info('keycard-<fastify>', 'fastify')],
  skipped: [],
  samples: [
    sample('express', 1, 4000), sample('express', 2, 4000),
    sample('keycard-express-redis', 1, 3000), sample('keycard-express-redis', 2, 3400),
    sample('fastify', 1, 10000),
    sample('fastify-session', 1, 2500),
    sample('keycard-<fastify>', 1, 25000),
  ],
  failures: [],
  commands: {},
};

describe('throughput chart', () => {
  it("bars are each variant's median share of its own platform's ceiling, in proportion", () => {
    const bars = new Map(chartBars(results).map((bar) => [bar.variant, bar]));
    assert.equal(bars.get('keycard-express-redis')?.share, 0.8);
    assert.equal(bars.get('fastify-session')?.share, 0.25);
    assert.equal(bars.get('express')?.width, bars.get('fastify')?.width, 'both ceilings are 100 %');
    assert.equal(bars.get('fastify-session')?.width, Math.round((bars.get('fastify')?.width ?? 0) / 4));
    assert.ok((bars.get('keycard-<fastify>')?.width ?? 0) <= Math.round(((bars.get('fastify')?.width ?? 0) * 1.5)), 'clipped at 150 %');
  });

  it('is one SVG with a bar per variant, labels escaped, and the figures written on the bars', () => {
    const svg = renderChart(results);
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal(svg.match(/<rect x=/g)?.length, 5);
    assert.ok(svg.includes('keycard-&lt;fastify&gt;') && !svg.includes('keycard-<fastify>'));
    assert.ok(svg.includes('80 % · 3200 req/s'), 'the median of 3000 and 3400 over the 4000 ceiling');
    assert.ok(svg.includes('Express (ceiling 4000 req/s)') && svg.includes('Fastify (ceiling 10000 req/s)'));
  });
});
