import type { Experiment } from './experiment.js';
import { cacheFootprint } from './cache-footprint.js';
import { coherence } from './coherence.js';
import { footprint } from './footprint.js';
import { fuzz } from './fuzz.js';
import { indexScale } from './index-scale.js';
import { pgRead } from './pg-read.js';
import { races } from './races.js';
import { signInLoad } from './sign-in-load.js';
import { workload } from './workload.js';

/** The cost and reliability experiments, in the order they run. */
export const EXPERIMENTS: readonly Experiment[] = [footprint, cacheFootprint, indexScale, pgRead, signInLoad, workload, races, coherence, fuzz];

/** `--only a,b` → ["a", "b"]; undefined for all; throws on a name that is not an experiment. */
export function parseExperimentNames(list: string | undefined): string[] | undefined {
  const only = list?.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = only?.filter((name) => !EXPERIMENTS.some((experiment) => experiment.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown experiment(s): ${unknown.join(', ')}`);
  return only;
}
