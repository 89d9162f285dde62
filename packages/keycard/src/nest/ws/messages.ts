/** A frame as `ws` delivers it to `WsAdapter`'s parser. */
export type WsFrame = string | Buffer | ArrayBuffer | Buffer[];

/** What `WsAdapter` routes: `event` picks the `@SubscribeMessage` handler, `data` is its argument. */
export interface RoutedMessage {
  readonly event: string;
  readonly data: { readonly type: string; readonly [key: string]: unknown };
}

/**
 * A `messageParser` for messages shaped `{"type": "...", ...}` (the
 * reference app's protocol) instead of Nest's `{"event", "data"}`: routes on
 * `type` and hands the whole message to the handler. Anything else (not
 * JSON, not an object, no string `type`) is dropped silently: it comes from
 * the client, and a parser that throws would fill the logs on demand.
 */
export function typedJsonMessages(frame: WsFrame): RoutedMessage | undefined {
  let text: string;
  if (typeof frame === 'string') text = frame;
  else if (Array.isArray(frame)) text = Buffer.concat(frame).toString('utf8');
  else if (Buffer.isBuffer(frame)) text = frame.toString('utf8');
  else text = Buffer.from(frame).toString('utf8');
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string' || type.length === 0) return undefined;
  return { event: type, data: message as RoutedMessage['data'] };
}
