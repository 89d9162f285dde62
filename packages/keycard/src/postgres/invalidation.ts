import { randomBytes } from 'node:crypto';
import { FEED_HEARTBEAT_MS, FEED_MAX_LAG_MS, InvalidationSinks, type InvalidationSink } from '../core/coherence.js';
import type { SqlClient } from './sql-client.js';

/**
 * The session cache's invalidation feed on a PostgreSQL server
 * (docs/session-cache.md, "PostgreSQL"): every changing statement of the
 * store `pg_notify`s the ids it changed on the invalidation channel, inside
 * the statement (so the notification exists exactly when the change
 * commits); this module LISTENs on a dedicated connection, reports its loss
 * (flush) and its lag (bypass), and hands the ids to the caches.
 */

/** Ids per NOTIFY: a payload stays under 8000 bytes, and an id takes 46 in a JSON array. */
export const IDS_PER_NOTIFY = 150;

/** The invalidation channel of a store whose revocation channel is `channel` (63 bytes at most, like any identifier). */
export function invalidationChannel(channel: string): string {
  return `${channel.slice(0, 59)}_inv`;
}

/**
 * The ids in a payload the store's statements wrote (a JSON array of
 * strings), or null for anything else: something this module did not write
 * reached the channel, and what changed cannot be known.
 */
export function idsOf(payload: string): string[] | null {
  try {
    const parsed: unknown = JSON.parse(payload);
    if (Array.isArray(parsed) && parsed.every((id) => typeof id === 'string')) return parsed as string[];
  } catch {
    // Not JSON: below.
  }
  return null;
}

/**
 * One LISTEN connection shared by every cache subscribed to the store, with a
 * heartbeat: a NOTIFY sent through the pool (another connection, the path a
 * writer's notification takes) and heard back on the LISTEN connection.
 * PostgreSQL delivers notifications in commit order, so once a heartbeat is
 * heard, every notification committed before it was sent has been delivered.
 */
export class PgInvalidationFeed {
  private readonly sinks = new InvalidationSinks();
  /** Heartbeats of other processes on the same channel carry their own nonce. */
  private readonly nonce = `~${randomBytes(6).toString('base64url')}:`;
  private stopListening: (() => Promise<void>) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private live = false;
  private closed = false;
  /** Send time of the last heartbeat heard back. */
  private confirmedAt = 0;
  private pending: { readonly seq: number; readonly sentAt: number } | null = null;
  private seq = 0;

  constructor(
    private readonly client: SqlClient,
    private readonly channel: string,
  ) {}

  /** Adds a sink; resolves once LISTEN is in effect. */
  subscribe(sink: InvalidationSink): Promise<() => Promise<void>> {
    return this.sinks.subscribe(sink, () => this.start());
  }

  /** Whether LISTEN is in effect and a heartbeat was heard recently. */
  current(): boolean {
    return this.live && performance.now() - this.confirmedAt <= FEED_MAX_LAG_MS;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.live = false;
    this.sinks.clear();
    if (this.timer) clearInterval(this.timer);
    const stop = this.stopListening;
    this.stopListening = null;
    await stop?.();
  }

  private async start(): Promise<void> {
    const listen = this.client.listen?.bind(this.client);
    if (!listen) throw new Error('keycard/postgres: the session cache needs a SqlClient with listen()');
    const stop = await listen(this.channel, (payload) => this.receive(payload), {
      lost: () => this.lose(),
      restored: () => this.restore(),
    });
    if (this.closed) {
      await stop();
      return;
    }
    this.stopListening = stop;
    this.confirmedAt = performance.now();
    this.live = true;
    this.timer = setInterval(() => this.beat(), FEED_HEARTBEAT_MS);
    this.timer.unref();
  }

  private receive(payload: string): void {
    if (payload.startsWith('~')) {
      this.heard(payload);
      return;
    }
    const ids = idsOf(payload);
    if (ids === null) {
      // Unknown writes on our channel: whatever they meant, nothing cached can be trusted.
      this.sinks.lost();
      this.sinks.restored();
      return;
    }
    this.sinks.invalidate(ids);
  }

  private heard(payload: string): void {
    const pending = this.pending;
    if (pending === null || payload !== `${this.nonce}${pending.seq}`) return;
    this.pending = null;
    this.confirmedAt = pending.sentAt;
  }

  private lose(): void {
    this.live = false;
    this.pending = null;
    this.sinks.lost();
  }

  private restore(): void {
    if (this.closed) return;
    // LISTEN is in effect again: what commits from now on is delivered.
    this.confirmedAt = performance.now();
    this.live = true;
    this.sinks.restored();
  }

  private beat(): void {
    const now = performance.now();
    // A heartbeat unheard for longer than the lag bound is given up and sent again (the feed is late meanwhile).
    if (!this.live || (this.pending !== null && now - this.pending.sentAt <= FEED_MAX_LAG_MS)) return;
    const pending = { seq: ++this.seq, sentAt: now };
    this.pending = pending;
    this.client.query('SELECT pg_notify($1, $2)', [this.channel, `${this.nonce}${pending.seq}`]).catch(() => {
      // The database is unreachable: reads go to it and get their 503; the next beat tries again.
      if (this.pending === pending) this.pending = null;
    });
  }
}
