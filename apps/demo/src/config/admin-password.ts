import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ADMIN_PASSWORD_FILE = 'admin-password';

/**
 * Development only (production refuses to start without ADMIN_PASSWORD): the
 * password the ADMIN_EMAIL account is created with, generated once and kept
 * in DATA_DIR, readable by the owner only. Never printed: the start-up
 * warning names the file.
 */
export async function generatedAdminPassword(dataDir: string): Promise<{ password: string; path: string }> {
  const path = join(dataDir, ADMIN_PASSWORD_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  try {
    // 'wx': two instances starting at once agree on one password.
    await writeFile(path, `${password}\n`, { mode: 0o600, flag: 'wx' });
    return { password, path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { password: (await readFile(path, 'utf8')).trim(), path };
  }
}
