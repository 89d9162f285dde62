/**
 * Sends fuzz cases in batches and checks the three invariants of the
 * experiment: no 5xx (nor a request left without a response), no process
 * exit, and no state change from a batch whose requests were all rejected.
 *
 * A batch's requests go out concurrently; the state is compared once they
 * have all been answered (keycard saves before it responds). A batch holding
 * an accepted request (2xx/3xx) is allowed to change state: after it the
 * credentials are settled and the baseline re-taken, and it is counted apart.
 *
 * Cases come from `fc.sample(plans, { seed: seed + batch })`, so case `i` of
 * batch `b` is replayed from the seed alone.
 */
import fc from 'fast-check';
import { changedKeys, type Snapshot } from './state-digest.js';
import type { HttpReply, HttpRequest, LoopbackClient } from './loopback-client.js';

export interface HttpFuzzOptions<Plan> {
  readonly client: LoopbackClient;
  /** Base URLs (loopback); a plan picks one through `resolve`. */
  readonly targets: readonly string[];
  readonly cases: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly plans: fc.Arbitrary<Plan>;
  readonly resolve: (plan: Plan) => { readonly target: number; readonly request: HttpRequest };
  /** A replayable description of a case that holds no credential. */
  readonly describe: (plan: Plan) => string;
  readonly snapshot: () => Promise<Snapshot>;
  /** After a batch with an accepted request, before the baseline is re-taken. */
  readonly settle?: () => Promise<void>;
  /** Processes that died; the run stops at the first batch after which there is one. */
  readonly exits?: () => readonly string[];
}

export interface HttpFuzzReport {
  readonly cases: number;
  readonly seconds: number;
  /** Status code → count; `none` for requests that got no response. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly serverErrors: number;
  readonly noResponse: number;
  readonly batchesChecked: number;
  readonly batchesWithAccepted: number;
  readonly stateChanges: number;
  /** Accepted cases by status, method and path (ids and queries cut), to see what got through. */
  readonly accepted: Readonly<Record<string, number>>;
  /** HTTP-level oddities that are not the app's answer (see `HttpReply.quirk`), by kind. */
  readonly quirks: Readonly<Record<string, number>>;
  /** Where the time went: sending cases, comparing state, settling credentials. */
  readonly timing: { readonly sending: number; readonly checking: number; readonly settling: number };
  readonly exits: readonly string[];
  /** The first few offending cases, one line each. */
  readonly offences: readonly string[];
}

const MAX_OFFENCES = 8;

export async function runHttpFuzz<Plan>(options: HttpFuzzOptions<Plan>): Promise<HttpFuzzReport> {
  const started = performance.now();
  const statuses: Record<string, number> = {};
  const offences: string[] = [];
  const offend = (line: string) => {
    if (offences.length < MAX_OFFENCES) offences.push(line);
  };
  let [sent, serverErrors, noResponse, checked, withAccepted, stateChanges] = [0, 0, 0, 0, 0, 0];
  const quirks: Record<string, number> = {};
  const acceptedBy: Record<string, number> = {};
  const timing = { sending: 0, checking: 0, settling: 0 };
  let exits: readonly string[] = [];
  let baseline = await options.snapshot();

  let clock = 0;
  const lap = () => {
    const now = performance.now();
    const seconds = (now - clock) / 1000;
    clock = now;
    return seconds;
  };
  for (let batch = 0; sent < options.cases; batch++) {
    const size = Math.min(options.batchSize, options.cases - sent);
    const plans = fc.sample(options.plans, { seed: (options.seed + batch) | 0, numRuns: size });
    clock = performance.now();
    const outcomes = await Promise.all(
      plans.map(async (plan) => {
        const { target, request } = options.resolve(plan);
        const base = options.targets[target] as string;
        try {
          return { plan, base, request, reply: await options.client.send(base, request) };
        } catch (error) {
          return { plan, base, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    sent += size;
    timing.sending += lap();
    let accepted = false;
    let allRejected = true;
    outcomes.forEach((outcome, index) => {
      const where = `seed ${options.seed}, batch ${batch}, case ${index}`;
      if (!('reply' in outcome) || outcome.reply === undefined) {
        noResponse++;
        allRejected = false;
        bump(statuses, 'none');
        offend(`no response (${outcome.error}) [${where}] to ${options.describe(outcome.plan)} at ${outcome.base}`);
        return;
      }
      const { status, quirk } = outcome.reply;
      if (quirk !== undefined) bump(quirks, quirk);
      // Node's HTTP parser refused the request (oversized headers, unknown method) before the app saw it.
      if (quirk === 'reset') {
        bump(statuses, 'reset');
        return;
      }
      bump(statuses, String(status));
      if (status >= 500) {
        serverErrors++;
        offend(`${status} [${where}] for ${options.describe(outcome.plan)} at ${outcome.base}: ${replyText(outcome.reply)}`);
      }
      if (status < 400) {
        accepted = true;
        bump(acceptedBy, `${status} ${outcome.request.method} ${outcome.request.path.replace(/[?].*$/, '').replace(/\/[0-9a-f-]{36}/g, '/:id').slice(0, 60)}`);
      }
      if (status < 400 || status >= 500) allRejected = false;
    });

    exits = options.exits?.() ?? [];
    if (exits.length > 0) {
      offend(`a process exited during batch ${batch} (seed ${options.seed}); its cases: ${outcomes.map((o) => options.describe(o.plan)).join(' | ').slice(0, 2_000)}`);
      break;
    }
    if (allRejected) {
      checked++;
      const after = await options.snapshot();
      const changed = changedKeys(baseline, after);
      if (changed.length > 0) {
        stateChanges++;
        offend(
          `state changed by a batch of rejected requests [seed ${options.seed}, batch ${batch}]: ${changed.slice(0, 5).join(', ')}; ` +
            `cases: ${outcomes.map((o, i) => `#${i} ${'reply' in o && o.reply ? o.reply.status : '-'} ${options.describe(o.plan)}`).join(' | ').slice(0, 3_000)}`,
        );
        baseline = after;
      }
      timing.checking += lap();
    } else {
      if (accepted) withAccepted++;
      await options.settle?.();
      timing.settling += lap();
      baseline = await options.snapshot();
      timing.checking += lap();
    }
  }
  return {
    cases: sent,
    seconds: (performance.now() - started) / 1000,
    statuses,
    serverErrors,
    noResponse,
    batchesChecked: checked,
    batchesWithAccepted: withAccepted,
    stateChanges,
    accepted: acceptedBy,
    quirks,
    timing,
    exits,
    offences,
  };
}

function bump(histogram: Record<string, number>, key: string): void {
  histogram[key] = (histogram[key] ?? 0) + 1;
}

function replyText(reply: HttpReply): string {
  return JSON.stringify(reply.body.length > 300 ? `${reply.body.slice(0, 300)}…` : reply.body);
}
