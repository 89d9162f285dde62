import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppConfig } from './config.js';

export const SECRET_FILE = 'session-secret';

export interface ResolvedSecrets {
  readonly secrets: readonly string[];
  /** Set when the secret came from (or was written to) a file: the start-up log warns about it. */
  readonly warning?: string;
}

/**
 * SESSION_SECRETS when given. Otherwise (development only: config validation
 * refuses production without it) a secret kept in DATA_DIR, generated on
 * first start, readable by the owner only, so that sessions survive restarts.
 */
export async function resolveSecrets(config: AppConfig): Promise<ResolvedSecrets> {
  if (config.sessionSecrets) return { secrets: config.sessionSecrets };
  if (config.production) throw new Error('SESSION_SECRETS is required in production');
  const path = join(config.dataDir, SECRET_FILE);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const existing = await readSecret(path);
  if (existing) {
    return {
      secrets: [existing],
      warning: `SESSION_SECRETS is not set: using the development secret in ${path}. Set SESSION_SECRETS in production.`,
    };
  }
  const secret = randomBytes(32).toString('base64url');
  try {
    // 'wx': never overwrite a secret another process has just written (two instances starting at once).
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = await readSecret(path);
    if (!raced) throw new Error(`${path} exists but holds no usable secret; delete it to generate a new one`);
    return { secrets: [raced] };
  }
  return {
    secrets: [secret],
    warning: `SESSION_SECRETS is not set: generated a development secret in ${path} (mode 0600). Set SESSION_SECRETS in production.`,
  };
}

async function readSecret(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  // Tighten a secret file that was copied around with looser permissions.
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  const secret = text.trim();
  if (secret.length < 32) throw new Error(`${path} holds a secret shorter than 32 characters; delete it to generate a new one`);
  return secret;
}
