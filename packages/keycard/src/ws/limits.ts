import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { InvalidOptionsError } from '../core/errors.js';

/** RFC 6455 close code "Message Too Big": a frame over `maxMessageBytes`. */
export const WS_CLOSE_TOO_BIG = 1009;
/** RFC 6455 close code "Policy Violation": more than `maxMessagesPerSecond`. */
export const WS_CLOSE_POLICY = 1008;

export interface SocketLimitOptions {
  /** Largest message a client may send, in bytes; a larger one closes the socket with 1009. Default 16384 (16 KiB). */
  readonly maxMessageBytes?: number;
  /** Messages a client may send in any one second; one more closes the socket with 1008. Default 20. */
  readonly maxMessagesPerSecond?: number;
}

export interface ResolvedSocketLimits {
  readonly maxMessageBytes: number;
  readonly maxMessagesPerSecond: number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionsError(`keycard: ${name} must be a positive whole number, got ${String(value)}`);
  }
  return value;
}

/** Validates the limits once, at bootstrap. */
export function resolveSocketLimits(options: SocketLimitOptions = {}): ResolvedSocketLimits {
  return {
    maxMessageBytes: positiveInteger('maxMessageBytes', options.maxMessageBytes, 16 * 1024),
    maxMessagesPerSecond: positiveInteger('maxMessagesPerSecond', options.maxMessagesPerSecond, 20),
  };
}

/**
 * A sliding one-second window over one socket's messages: `admit()` is false
 * for the message that makes more than `perSecond` within any 1000 ms. The
 * last `perSecond` arrival times sit in a ring, so each call is O(1) and a
 * socket costs `perSecond` numbers. `now` is injectable (milliseconds).
 */
export class MessageRate {
  private readonly arrivals: Float64Array;
  private next = 0;
  private count = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.arrivals = new Float64Array(perSecond);
  }

  admit(): boolean {
    const at = this.now();
    if (this.count === this.perSecond) {
      // The oldest of the last `perSecond` messages: within a second, this one is one too many.
      if (at - (this.arrivals[this.next] as number) < 1000) return false;
    } else {
      this.count++;
    }
    this.arrivals[this.next] = at;
    this.next = (this.next + 1) % this.perSecond;
    return true;
  }
}

/**
 * Which proxies to believe about an upgrade's client, exactly as Express's
 * `trust proxy` setting (it uses proxy-addr too): `false` (default) none;
 * a number, that many hops; an address, CIDR or list of them (also the
 * names `loopback`, `linklocal`, `uniquelocal`); `true` every hop, which
 * believes whatever a client writes in `X-Forwarded-For` — only behind a
 * proxy that overwrites it.
 */
export type TrustProxy = boolean | number | string | readonly string[];

/** The compiled rule: is the address at this hop (0 = the socket's peer) a trusted proxy? */
export type TrustFn = (address: string, hop: number) => boolean;

export function compileTrustProxy(trust: TrustProxy | undefined): TrustFn {
  if (trust === undefined || trust === false) return () => false;
  if (trust === true) return () => true;
  if (typeof trust === 'number') {
    if (!Number.isInteger(trust) || trust < 0) throw new InvalidOptionsError(`keycard: trustProxy must be a whole number of hops, got ${trust}`);
    return (_address, hop) => hop < trust;
  }
  const list = typeof trust === 'string' ? trust.split(',').map((entry) => entry.trim()) : [...trust];
  try {
    return proxyaddr.compile(list);
  } catch (error) {
    throw new InvalidOptionsError(`keycard: trustProxy ${JSON.stringify(trust)} is not a list of addresses or CIDRs (${(error as Error).message})`);
  }
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim();
  return value ? value : undefined;
}

/** What an upgrade request says about its client, under `trust` (Express's rules for `req.ip`, `req.protocol`, `req.host`). */
export function forwardedFacts(request: IncomingMessage, trust: TrustFn): { ip: string | undefined; secure: boolean; host: string | undefined } {
  const encrypted = (request.socket as { encrypted?: boolean } | null)?.encrypted === true;
  const peer = request.socket?.remoteAddress;
  const peerTrusted = peer !== undefined && trust(peer, 0);
  const proto = peerTrusted ? firstValue(request.headers['x-forwarded-proto']) : undefined;
  return {
    // proxy-addr walks X-Forwarded-For from the right, stopping at the first address not trusted.
    ip: peer === undefined ? undefined : proxyaddr(request, trust),
    secure: proto !== undefined ? proto.toLowerCase() === 'https' : encrypted,
    host: (peerTrusted ? firstValue(request.headers['x-forwarded-host']) : undefined) ?? request.headers.host,
  };
}
