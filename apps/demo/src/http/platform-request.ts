/**
 * The few request/response operations the app needs, the same on Express and
 * Fastify: both expose `headers`, `ip` and the Node request; only the ways to
 * learn "was this HTTPS?" and to add a header differ.
 */
export interface AnyRequest {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly ip?: string | undefined;
  /** Express (honours `trust proxy`). */
  readonly secure?: boolean;
  /** Fastify (honours `trustProxy`). */
  readonly protocol?: string;
  readonly method?: string;
  /** Express: path + query; Fastify: the raw URL. */
  readonly originalUrl?: string;
  readonly url?: string;
}

export interface AnyResponse {
  /** Express only: adds a header value (Set-Cookie needs this). */
  append?(name: string, value: string): unknown;
  /** Both: replaces a header (Fastify appends `set-cookie`). */
  header(name: string, value: string): unknown;
  /** Both: a header set so far, undefined when none. */
  getHeader(name: string): unknown;
  /** Both: Nest keeps a status set here on `passthrough` responses. */
  status(code: number): unknown;
  type(contentType: string): unknown;
}

export function isSecure(request: AnyRequest): boolean {
  return request.secure === true || request.protocol === 'https';
}

export function header(request: AnyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The path and query the client asked for. */
export function requestPath(request: AnyRequest): string {
  return request.originalUrl ?? request.url ?? '/';
}

/** Adds a header value without dropping earlier ones (several Set-Cookie lines). */
export function addHeader(response: AnyResponse, name: string, value: string): void {
  if (typeof response.append === 'function') response.append(name, value);
  else response.header(name, value);
}

/**
 * For handlers with `@Res({ passthrough: true })`: the status and headers are
 * set here, the returned body is sent by Nest after interceptors ran (so the
 * session is committed first).
 */
export function htmlResponse(response: AnyResponse, status: number, html: string): string {
  response.status(status);
  response.type('text/html; charset=utf-8');
  return html;
}

/** 303 See Other: after a form POST the browser GETs `location` (post/redirect/get). */
export function seeOther(response: AnyResponse, location: string): string {
  response.status(303);
  response.header('Location', location);
  return '';
}
