/**
 * Redis commands per authenticated read, from `MONITOR` output. MONITOR is
 * used rather than `INFO commandstats` because commandstats also counts the
 * commands a Lua script runs, which would make keycard's single EVALSHA look
 * like two round trips; MONITOR marks those with `[0 lua]`.
 */

export interface MonitorEntry {
  /** Upper case, e.g. `GET`. */
  readonly command: string;
  /** Run by a Lua script, not sent by a client. */
  readonly inScript: boolean;
  /** The first argument, for recognising the counter's own markers. */
  readonly firstArgument: string | undefined;
}

/** One MONITOR line: `+1700000000.123456 [0 127.0.0.1:5000] "GET" "key"` (or `[0 lua]`). */
export function parseMonitorLine(line: string): MonitorEntry | undefined {
  const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "((?:[^"\\]|\\.)*)"(?: "((?:[^"\\]|\\.)*)")?/.exec(line);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { command: match[2].toUpperCase(), inScript: match[1] === 'lua', firstArgument: match[3] };
}

export interface CommandCount {
  readonly reads: number;
  /** Commands the application sent per read: each is a request to Redis (a round trip unless pipelined). */
  readonly perRead: number;
  /** Sent commands by name, per read. */
  readonly commands: Readonly<Record<string, number>>;
  /** Commands run inside Lua scripts by name, per read (no round trip of their own). */
  readonly scriptCommands: Readonly<Record<string, number>>;
}

export function countPerRead(entries: readonly MonitorEntry[], reads: number): CommandCount {
  const commands: Record<string, number> = {};
  const scriptCommands: Record<string, number> = {};
  let sent = 0;
  for (const { command, inScript } of entries) {
    const into = inScript ? scriptCommands : commands;
    into[command] = (into[command] ?? 0) + 1;
    if (!inScript) sent++;
  }
  const perRead = (counts: Record<string, number>) =>
    Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, count / reads]));
  return { reads, perRead: sent / reads, commands: perRead(commands), scriptCommands: perRead(scriptCommands) };
}

/** `GET ×1 + EXPIRE ×1`, or `EVALSHA ×1 (script runs HGETALL ×1)`; most frequent first. */
export function describeCommands(count: CommandCount): string {
  const list = (counts: Readonly<Record<string, number>>): string =>
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([name, perRead]) => `${name} ×${Number.isInteger(perRead) ? perRead : perRead.toFixed(3)}`)
      .join(' + ');
  const sent = list(count.commands) || 'none';
  const inScripts = list(count.scriptCommands);
  return inScripts === '' ? sent : `${sent} (script runs ${inScripts})`;
}
