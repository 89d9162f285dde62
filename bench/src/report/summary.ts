import type { CommandCount } from '../harness/monitor-line.js';
import type { ResultsFile, VariantInfo } from './results.js';
import { median } from './stats.js';

export interface VariantSummary extends VariantInfo {
  /** Rounds that produced a sample. */
  readonly rounds: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMicros: number;
  /** Median req/s over the platform ceiling's median req/s. */
  readonly vsCeiling: number | undefined;
  /** Median CPU µs per request minus the ceiling's. */
  readonly extraCpuMicros: number | undefined;
  readonly commands: CommandCount | undefined;
}

export type Target =
  | { readonly kind: 'ratio'; readonly issue: number; readonly label: string; readonly numerator: string; readonly denominator: string; readonly atLeast: number }
  | { readonly kind: 'extra-cpu'; readonly issue: number; readonly label: string; readonly variant: string; readonly atMost: number }
  /** A ratio the issues ask to see without a bound (the driver comparison). */
  | { readonly kind: 'info'; readonly issue: number; readonly label: string; readonly numerator: string; readonly denominator: string };

export type Verdict = Target & { readonly value: number | undefined; readonly met: boolean | undefined };

/**
 * The figures keycard is judged on: issue 12's (the cache) first, then issue
 * 6's that it does not replace. PGlite has no CPU target: the database runs
 * inside the server process, so its CPU is the database's too.
 */
export const TARGETS: readonly Target[] = [
  { kind: 'ratio', issue: 12, label: 'keycard Fastify+Redis / Fastify ceiling (one hot session)', numerator: 'keycard-fastify-redis', denominator: 'fastify', atLeast: 0.8 },
  { kind: 'ratio', issue: 12, label: 'keycard Fastify+Redis / @fastify/session rolling:false, 1 000 sessions round-robin', numerator: 'keycard-fastify-redis-1k', denominator: 'fastify-session-norolling-1k', atLeast: 1.5 },
  { kind: 'ratio', issue: 12, label: 'keycard Express+Redis / Express ceiling', numerator: 'keycard-express-redis', denominator: 'express', atLeast: 0.9 },
  { kind: 'ratio', issue: 12, label: 'reference app, embedded PGlite (Express) / Express ceiling', numerator: 'demo-pglite', denominator: 'express', atLeast: 0.6 },
  { kind: 'ratio', issue: 12, label: 'reference app, embedded PGlite (Fastify) / Fastify ceiling', numerator: 'demo-pglite-fastify', denominator: 'fastify', atLeast: 0.6 },
  { kind: 'info', issue: 12, label: 'keycard Fastify+Redis, cache off (one round trip per read) / @fastify/session rolling:false', numerator: 'keycard-fastify-redis-nocache', denominator: 'fastify-session-norolling' },
  { kind: 'info', issue: 12, label: 'keycard Fastify+PostgreSQL: the postgres driver / pg (req/s)', numerator: 'keycard-fastify-postgres-js', denominator: 'keycard-fastify-postgres' },
  { kind: 'ratio', issue: 6, label: 'keycard Fastify+Redis / @fastify/session rolling:false', numerator: 'keycard-fastify-redis', denominator: 'fastify-session-norolling', atLeast: 1.7 },
  { kind: 'ratio', issue: 6, label: 'keycard Fastify+Redis / @fastify/session defaults', numerator: 'keycard-fastify-redis', denominator: 'fastify-session', atLeast: 2.3 },
  { kind: 'ratio', issue: 6, label: 'keycard Express+Redis / express-session+passport', numerator: 'keycard-express-redis', denominator: 'express-passport', atLeast: 1.8 },
  { kind: 'extra-cpu', issue: 6, label: 'keycard Express+Redis session CPU over ceiling', variant: 'keycard-express-redis', atMost: 35 },
  { kind: 'extra-cpu', issue: 6, label: 'keycard Fastify+Redis session CPU over ceiling', variant: 'keycard-fastify-redis', atMost: 35 },
  { kind: 'extra-cpu', issue: 6, label: 'keycard Fastify+memory session CPU over ceiling', variant: 'keycard-fastify-memory', atMost: 35 },
  { kind: 'extra-cpu', issue: 6, label: 'keycard Fastify+PostgreSQL session CPU over ceiling', variant: 'keycard-fastify-postgres', atMost: 35 },
];

export interface Summary {
  readonly variants: readonly VariantSummary[];
  readonly verdicts: readonly Verdict[];
}

/** Medians over rounds, each variant against its platform's ceiling, and the issue's targets. */
export function summarize(results: Pick<ResultsFile, 'variants' | 'samples' | 'commands'>): Summary {
  const base = new Map<string, Omit<VariantSummary, 'vsCeiling' | 'extraCpuMicros'>>();
  for (const info of results.variants) {
    const samples = results.samples.filter((sample) => sample.variant === info.name);
    const rps = samples.map((sample) => sample.rps);
    if (samples.length === 0) continue;
    base.set(info.name, {
      ...info,
      rounds: samples.length,
      rps: median(rps) as number,
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50Ms: median(samples.map((sample) => sample.p50Ms)) as number,
      p99Ms: median(samples.map((sample) => sample.p99Ms)) as number,
      cpuMicros: median(samples.map((sample) => sample.cpuMicrosPerRequest)) as number,
      commands: results.commands[info.name],
    });
  }
  const ceilings = new Map([...base.values()].filter((v) => v.ceiling).map((v) => [v.platform, v]));
  const variants = [...base.values()].map((variant): VariantSummary => {
    const ceiling = ceilings.get(variant.platform);
    return {
      ...variant,
      vsCeiling: ceiling === undefined ? undefined : variant.rps / ceiling.rps,
      extraCpuMicros: ceiling === undefined ? undefined : variant.cpuMicros - ceiling.cpuMicros,
    };
  });
  const byName = new Map(variants.map((variant) => [variant.name, variant]));
  const verdicts = TARGETS.map((target): Verdict => {
    if (target.kind === 'ratio' || target.kind === 'info') {
      const numerator = byName.get(target.numerator);
      const denominator = byName.get(target.denominator);
      const value = numerator && denominator ? numerator.rps / denominator.rps : undefined;
      if (target.kind === 'info') return { ...target, value, met: undefined };
      return { ...target, value, met: value === undefined ? undefined : value >= target.atLeast };
    }
    const value = byName.get(target.variant)?.extraCpuMicros;
    return { ...target, value, met: value === undefined ? undefined : value <= target.atMost };
  });
  return { variants, verdicts };
}
