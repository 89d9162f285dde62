const BASE = 'http://keycard.invalid';
const MAX_LENGTH = 2048;

/**
 * The local path to go to after sign-in, or `fallback`. Only a path on this
 * site is accepted: `//evil.example` and `/\evil.example` (which browsers
 * treat as another host), absolute URLs, other schemes, control characters
 * and backslashes anywhere are all refused, so `?next=` is never an open
 * redirect. The check is "resolves to our own origin", and the resolved
 * path (what goes into Location) must again be a plain local path.
 */
export function safeNextPath(raw: unknown, fallback = '/'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return fallback;
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\')) return fallback;
  // Browsers strip tabs and newlines from URLs, which can turn "/\t/evil" into "//evil".
  if (hasControlCharacter(raw)) return fallback;
  let url: URL;
  try {
    url = new URL(raw, BASE);
  } catch {
    return fallback;
  }
  if (url.origin !== BASE) return fallback;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments resolve away: "/.//evil.example", "/a/..//evil.example" and "/%2e//evil.example"
  // all come out as "//evil.example", another host once it is a Location. So the result is checked too.
  if (!path.startsWith('/') || path.startsWith('//') || path.includes('\\') || hasControlCharacter(path)) return fallback;
  // The sign-in pages themselves are no useful destination (and would loop).
  if (url.pathname === '/login' || url.pathname === '/register') return fallback;
  return path;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
