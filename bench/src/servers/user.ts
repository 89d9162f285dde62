/** The one user every variant signs in and answers `GET /me` with. */
export interface BenchUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly roles: readonly string[];
}

export const BENCH_USER: BenchUser = {
  id: 'u-1',
  email: 'ada@example.com',
  name: 'Ada Lovelace',
  roles: ['user'],
};

/** A secret of the length every stack accepts (@fastify/session and keycard want 32+). */
export const BENCH_SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
