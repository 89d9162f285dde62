/**
 * The load generator, in its own process: autocannon sharing a process (and
 * its event loop) with the runner or the server would measure itself.
 */
import autocannon, { type Options, type RequestData } from 'autocannon';
import { LatencyRecorder } from './latency.js';
import type { FromLoadWorker, LoadRequest } from './load-protocol.js';

function send(message: FromLoadWorker): void {
  process.send?.(message);
}

async function run(request: LoadRequest): Promise<void> {
  const latencies = new LatencyRecorder();
  const instance = autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.duration,
    ...roundRobin(request.cookies),
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.record(responseTime);
  });
  const result = await instance;
  const [p50 = Number.NaN, p99 = Number.NaN] = latencies.percentiles(50, 99);
  send({
    type: 'result',
    result: {
      requests: result.requests.total,
      seconds: result.duration,
      p50Ms: p50,
      p99Ms: p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    },
  });
}

/**
 * One cookie: a fixed header (autocannon builds the request once). Several:
 * each request takes the next cookie, across all connections, so every
 * session is read equally often.
 */
function roundRobin(cookies: readonly string[]): Partial<Pick<Options, 'headers' | 'requests'>> {
  if (cookies.length === 1) return { headers: { cookie: cookies[0] as string } };
  let next = 0;
  return {
    requests: [
      {
        setupRequest: (request: RequestData): RequestData => {
          const cookie = cookies[next] as string;
          next = (next + 1) % cookies.length;
          return { ...request, headers: { ...request.headers, cookie } };
        },
      },
    ],
  };
}

process.on('message', (request: LoadRequest) => {
  run(request).catch((error: unknown) => send({ type: 'error', message: String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
