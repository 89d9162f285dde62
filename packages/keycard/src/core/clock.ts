import { randomBytes } from 'node:crypto';

/** Milliseconds since the epoch. Injected so that expiry tests never sleep. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Cryptographically secure bytes. Injected so that tests can make ids predictable. */
export type RandomSource = (size: number) => Uint8Array;

export const cryptoRandom: RandomSource = (size) => randomBytes(size);
