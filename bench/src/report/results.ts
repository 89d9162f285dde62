import type { CommandCount } from '../harness/monitor-line.js';
import type { Machine } from '../harness/machine.js';
import type { Platform } from '../servers/protocol.js';

/** One measured run of one variant in one round. */
export interface Sample {
  readonly variant: string;
  readonly round: number;
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The server process's user + system CPU over the run, per completed request. */
  readonly cpuMicrosPerRequest: number;
}

export interface Failure {
  readonly variant: string;
  /** A round number, or 'commands' for the Redis command count. */
  readonly phase: number | 'commands';
  readonly message: string;
}

export interface VariantInfo {
  readonly name: string;
  readonly label: string;
  readonly title: string;
  readonly platform: Platform;
  readonly ceiling: boolean;
  readonly keycard: boolean;
  readonly store: string;
}

/** Everything a run produced; BENCHMARKS.md tables are rendered from this alone. */
export interface ResultsFile {
  readonly schema: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly options: {
    readonly rounds: number;
    readonly duration: number;
    readonly warmup: number;
    readonly connections: number;
    readonly commandReads: number;
  };
  readonly machine: Machine;
  readonly versions: Readonly<Record<string, string>>;
  readonly variants: readonly VariantInfo[];
  readonly skipped: readonly { readonly variant: string; readonly reason: string }[];
  readonly samples: readonly Sample[];
  readonly failures: readonly Failure[];
  readonly commands: Readonly<Record<string, CommandCount>>;
}
