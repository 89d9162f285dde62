import { createRequire } from 'node:module';

/**
 * Spans through `@opentelemetry/api` when the application has it installed,
 * nothing otherwise. It is loaded on first use with `require` (it ships
 * CommonJS, and its global tracer provider is shared by its CommonJS and ESM
 * copies), so `keycard` has no hard dependency on it and no top-level await.
 * Spans are created only while a tracer provider records them: without an
 * SDK registered, a span costs one `startSpan` of the no-op tracer and no
 * context switch.
 *
 * Span names: `keycard.session.load`, `keycard.session.commit`, and
 * `keycard.store.<operation>` for each store call inside them, so a trace
 * shows which keycard operation an `EVALSHA` or SQL statement served.
 * Attributes never hold an id, token or address.
 */

/** The part of @opentelemetry/api used here (declared structurally: no type dependency either). */
interface OtelSpan {
  isRecording(): boolean;
  setStatus(status: { code: number; message?: string }): void;
  recordException(exception: Error): void;
  end(): void;
}
interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, options?: { attributes?: Record<string, string> }): OtelSpan };
    setSpan(context: unknown, span: OtelSpan): unknown;
  };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
}

/** OpenTelemetry's SpanStatusCode.ERROR. */
const STATUS_ERROR = 2;

let api: OtelApi | null | undefined;

function otel(): OtelApi | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

/** Runs `work` inside a span named `name` (a child of the active span) when OpenTelemetry records; else runs it as it is. */
export function traced<T>(name: string, attributes: Record<string, string>, work: () => Promise<T>): Promise<T> {
  const otelApi = otel();
  if (!otelApi) return work();
  const span = otelApi.trace.getTracer('keycard').startSpan(name, { attributes });
  if (!span.isRecording()) {
    span.end();
    return work();
  }
  return otelApi.context.with(otelApi.trace.setSpan(otelApi.context.active(), span), () =>
    work().then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        if (error instanceof Error) span.recordException(error);
        span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.name : 'error' });
        span.end();
        throw error;
      },
    ),
  );
}
