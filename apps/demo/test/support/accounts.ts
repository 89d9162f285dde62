import assert from 'node:assert/strict';
import { Client } from './http-client.js';
import { uniqueEmail, uniqueIp } from './test-app.js';

export const PASSWORD = 'correct horse battery';

export interface Account {
  readonly client: Client;
  readonly email: string;
  readonly password: string;
  readonly id: string;
}

/** Registers a new user through the API (each with its own client address) and returns its signed-in client. */
export async function registerAccount(base: string, options: { email?: string; name?: string } = {}): Promise<Account> {
  const client = new Client(base, 'keycard-demo-test', uniqueIp());
  const email = options.email ?? uniqueEmail();
  const reply = await client.post('/api/auth/register', { json: { email, password: PASSWORD, name: options.name ?? 'Test User' } });
  assert.equal(reply.status, 201, reply.text);
  return { client, email, password: PASSWORD, id: reply.json.user.id };
}

/** Another device of the same user: a fresh client that signs in. */
export async function signInAgain(base: string, account: Account, userAgent = 'second-device'): Promise<Client> {
  const client = new Client(base, userAgent, uniqueIp());
  const reply = await client.post('/api/auth/login', { json: { email: account.email, password: account.password } });
  assert.equal(reply.status, 200, reply.text);
  return client;
}
