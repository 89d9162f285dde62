import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { SessionManager } from 'keycard';
import { openStoreFromUrl, revokeCommand, sessionsCommand, type OpenedStore } from 'keycard/cli';
import { ConfigError, loadConfig, type AppConfig } from '../config/config.js';
import { resolveSecrets } from '../config/secrets.js';
import { openDatabase } from '../database/database.js';
import { migrate } from '../database/migrations.js';
import { openStores, sessionStoreUrl } from '../sessions/stores.js';
import { principalOf } from '../users/user.js';
import { UsersRepository } from '../users/users.repository.js';
import { ADMIN_ROLE } from '../users/users.service.js';

/**
 * `npm run admin -- promote|demote|sessions|revoke <email>`: the operator's
 * side of SPEC "Administrators", configured by the same environment as the
 * app (DATABASE_URL or DATA_DIR, REDIS_URL, SESSION_SECRETS...).
 *
 * `promote` and `demote` are the app's: they change the users table, and the
 * user's live sessions see the new roles at their next request (keycard's
 * refreshPrincipal). `sessions` and `revoke` are keycard's operator commands
 * (`keycard/cli`, as `npx keycard sessions|revoke <user-id>`): the e-mail is
 * resolved to the user id here, then the library's sessionsCommand and
 * revokeCommand run on the app's session store, opened from its URL
 * (sessionStoreUrl). A revocation goes through the store like a sign-out, so
 * running instances close that user's WebSockets. With the embedded database
 * (no DATABASE_URL), stop the app first: PGlite is one process's database.
 */
const USAGE = `usage: npm run admin -- <command> <email>
  promote <email>   give the account the role admin
  demote <email>    take the role admin away
  sessions <email>  list the account's live sessions
  revoke <email>    sign the account out everywhere`;

const COMMANDS = ['promote', 'demote', 'sessions', 'revoke'] as const;
type Command = (typeof COMMANDS)[number];

export class UsageError extends Error {}

interface Context {
  readonly config: AppConfig;
  readonly users: UsersRepository;
  readonly manager: SessionManager;
  readonly print: (line: string) => void;
}

export async function runAdmin(argv: readonly string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<void> {
  const [command, email, ...rest] = argv;
  if (!COMMANDS.includes(command as Command) || !email || rest.length > 0) throw new UsageError(USAGE);
  const config = loadConfig(env);
  if (command === 'sessions' || command === 'revoke') {
    const user = await accountOf(config, email);
    await STORE_COMMANDS[command](config, user, print);
    return;
  }
  const { secrets } = await resolveSecrets(config);
  const database = await openDatabase(config);
  try {
    await migrate(database.db);
    const stores = await openStores(config.redis, database);
    try {
      const manager = new SessionManager({ secrets, store: stores.sessions });
      const users = new UsersRepository(database.db);
      await ROLE_COMMANDS[command as 'promote' | 'demote']({ config, users, manager, print }, email);
    } finally {
      await stores.close();
    }
  } finally {
    await database.close();
  }
}

const ROLE_COMMANDS: Readonly<Record<'promote' | 'demote', (context: Context, email: string) => Promise<void>>> = {
  async promote({ users, manager, print }, email) {
    const user = await existing(users, email);
    const changed = await users.grantRoleByEmail(email, ADMIN_ROLE);
    if (changed) await manager.refreshPrincipal(principalOf(changed));
    print(changed ? `${user.email} is now an administrator` : `${user.email} already is an administrator`);
  },
  async demote({ config, users, manager, print }, email) {
    const user = await existing(users, email);
    if (config.adminEmail === user.email.toLowerCase()) {
      throw new UsageError(`${user.email} is ADMIN_EMAIL, which the app makes admin at every start: unset ADMIN_EMAIL first`);
    }
    const changed = await users.revokeRoleByEmail(email, ADMIN_ROLE);
    if (changed) await manager.refreshPrincipal(principalOf(changed));
    print(changed ? `${user.email} is no longer an administrator` : `${user.email} was not an administrator`);
  },
};

interface Account {
  readonly id: string;
  readonly email: string;
}

/**
 * keycard's commands on the app's session store. The database is closed by
 * then (accountOf): on PGlite the store opens the same directory.
 */
const STORE_COMMANDS: Readonly<Record<'sessions' | 'revoke', (config: AppConfig, user: Account, print: (line: string) => void) => Promise<void>>> = {
  async sessions(config, user, print) {
    const sessions = await withSessionStore(config, (opened) => sessionsCommand(opened, user.id));
    print(`${user.email}: ${sessions.length} live session${sessions.length === 1 ? '' : 's'}`);
    for (const session of sessions) {
      print(`  ${session['handle']}  created ${session['createdAt']}  last seen ${session['lastSeenAt']}  ${session['ip'] ?? '-'}  ${session['userAgent'] ?? '-'}`);
    }
  },
  async revoke(config, user, print) {
    const ended = await withSessionStore(config, (opened) => revokeCommand(opened, user.id));
    print(`${user.email}: ${ended.length} session${ended.length === 1 ? '' : 's'} signed out`);
  },
};

/** The account with that e-mail (any case), read from the app's database, which is closed again. */
async function accountOf(config: AppConfig, email: string): Promise<Account> {
  const database = await openDatabase(config);
  try {
    await migrate(database.db);
    const user = await existing(new UsersRepository(database.db), email);
    return { id: user.id, email: user.email };
  } finally {
    await database.close();
  }
}

async function withSessionStore<T>(config: AppConfig, run: (opened: OpenedStore) => Promise<T>): Promise<T> {
  const opened = await openStoreFromUrl(sessionStoreUrl(config.redis, config));
  try {
    return await run(opened);
  } finally {
    await opened.close();
  }
}

async function existing(users: UsersRepository, email: string) {
  const user = await users.findByEmail(email);
  if (!user) throw new UsageError(`no account with the e-mail ${email}`);
  return user;
}

// Run as a program (not when a test imports runAdmin).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runAdmin(process.argv.slice(2), process.env, (line) => console.log(line)).then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof UsageError) console.error(error.message);
      else if (error instanceof ConfigError) console.error(`keycard demo admin: ${error.message}`);
      else console.error('keycard demo admin failed:', error);
      process.exit(error instanceof UsageError && error.message === USAGE ? 2 : 1);
    },
  );
}
