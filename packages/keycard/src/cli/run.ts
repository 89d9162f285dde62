import { parseArgs } from 'node:util';
import { KeycardError } from '../core/errors.js';
import { expiresAt, type SessionRecord } from '../core/record.js';
import { openStoreFromUrl, redactCredentials, type OpenedStore, type StoreUrlOptions } from './open-store.js';

/** Where the CLI writes, and what it reads from the environment: injected, so tests run it in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes: 0 done, 1 the store failed, 2 bad usage, 3 nothing matched (`revoke --handle`). */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3 } as const;

export const USAGE = `Usage: keycard <command> [options]

Commands:
  sessions <user-id>               list the user's live sessions
  revoke <user-id>                 sign the user out everywhere (their WebSockets close too)
  revoke <user-id> --handle <h>    end one session, by the handle \`sessions\` shows
  stats                            sessions, users with sessions, topology
  migrate                          create the SQL tables (PostgreSQL, PGlite); Redis needs none

Options:
  --store <url>     redis://host:port, redis+sentinel://host:port,…/<name>,
                    redis+cluster://host:port,…, postgres://…, pglite:<dir>
                    (default: $KEYCARD_STORE_URL)
  --prefix <p>      Redis key prefix (default keycard:)
  --table <t>       SQL table (default keycard_sessions)
  --schema <s>      SQL schema (default: the connection's search_path)
  --json            machine-readable output
  -h, --help        this text
`;

/** A record as the CLI shows it: the public handle, never the store id or a token. */
export function describeSession(record: SessionRecord): Record<string, string | boolean | null> {
  return {
    handle: record.handle,
    createdAt: new Date(record.createdAt).toISOString(),
    lastSeenAt: new Date(record.lastSeenAt).toISOString(),
    expiresAt: new Date(expiresAt(record)).toISOString(),
    remember: record.remember,
    ip: record.ip,
    userAgent: record.userAgent,
  };
}

function table(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0] as object);
  const cells = rows.map((row) => columns.map((column) => String(row[column] ?? '-')));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((cell) => (cell[i] as string).length)));
  const line = (values: readonly string[]) => values.map((value, i) => value.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(columns), ...cells.map(line)].join('\n') + '\n';
}

/** Lists a user's live sessions, oldest first. */
export async function sessionsCommand(opened: OpenedStore, userId: string): Promise<Record<string, string | boolean | null>[]> {
  return (await opened.store.listByUser(userId, Date.now())).map(describeSession);
}

/** Ends every session of a user, or only the one with `handle`; the ended handles ([] when `handle` matched nothing). */
export async function revokeCommand(opened: OpenedStore, userId: string, handle?: string): Promise<string[]> {
  if (handle === undefined) return opened.store.revokeAll(userId);
  const target = (await opened.store.listByUser(userId, Date.now())).find((record) => record.handle === handle);
  if (!target) return [];
  return (await opened.store.destroy(target.id)) ? [target.handle] : [];
}

/**
 * The operator's command line (`npx keycard …`), as a function: parses
 * `argv`, opens the store from `--store` or `KEYCARD_STORE_URL`, runs one
 * command, closes what it opened, and resolves to the exit code. Messages
 * never contain the store URL's credentials.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        store: { type: 'string' },
        prefix: { type: 'string' },
        table: { type: 'string' },
        schema: { type: 'string' },
        handle: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.stderr(`keycard: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    (values.help || command === 'help' ? io.stdout : io.stderr)(USAGE);
    return values.help || command === 'help' ? EXIT.ok : EXIT.usage;
  }
  const arity: Record<string, number> = { sessions: 1, revoke: 1, stats: 0, migrate: 0 };
  const wanted = arity[command];
  if (wanted === undefined) {
    io.stderr(`keycard: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (rest.length !== wanted) {
    io.stderr(`keycard: ${command} takes ${wanted === 1 ? 'a user id' : 'no argument'}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (values.handle !== undefined && command !== 'revoke') {
    io.stderr(`keycard: --handle goes with revoke only\n`);
    return EXIT.usage;
  }
  const url = values.store ?? io.env['KEYCARD_STORE_URL'];
  if (!url) {
    io.stderr('keycard: give the store with --store <url> or KEYCARD_STORE_URL\n');
    return EXIT.usage;
  }
  const options: StoreUrlOptions = { prefix: values.prefix, table: values.table, schema: values.schema };
  let opened: OpenedStore;
  try {
    opened = await openStoreFromUrl(url, options);
  } catch (error) {
    io.stderr(`keycard: cannot open the store: ${messageOf(error)}\n`);
    return error instanceof KeycardError && error.code === 'KEYCARD_INVALID_OPTIONS' ? EXIT.usage : EXIT.failed;
  }
  const print = (human: string, machine: unknown): void => io.stdout(values.json ? `${JSON.stringify(machine)}\n` : human);
  try {
    const userId = rest[0] as string;
    switch (command) {
      case 'sessions': {
        const sessions = await sessionsCommand(opened, userId);
        print(sessions.length === 0 ? `no live sessions for ${userId}\n` : table(sessions), { userId, sessions });
        return EXIT.ok;
      }
      case 'revoke': {
        const handles = await revokeCommand(opened, userId, values.handle);
        if (values.handle !== undefined && handles.length === 0) {
          io.stderr(`keycard: ${userId} has no live session with handle ${values.handle}\n`);
          return EXIT.notFound;
        }
        print(`revoked ${handles.length} session(s) of ${userId}\n`, { userId, revoked: handles });
        return EXIT.ok;
      }
      case 'stats': {
        const stats = await opened.stats();
        print(`${opened.kind} (${opened.description})\n${Object.entries(stats).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`, { kind: opened.kind, ...stats });
        return EXIT.ok;
      }
      default: {
        const migrated = await opened.migrate();
        print(migrated ? `schema ready on ${opened.description}\n` : `${opened.kind} needs no migration\n`, { migrated });
        return EXIT.ok;
      }
    }
  } catch (error) {
    io.stderr(`keycard: ${command} failed: ${messageOf(error)}\n`);
    return EXIT.failed;
  } finally {
    await opened.close().catch(() => undefined);
  }
}

/** The error's message and its cause's, which say what the driver saw (connection refused, auth failed). */
function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  // A driver's message may quote the URL it was given (credentials included).
  return redactCredentials(message + cause);
}
