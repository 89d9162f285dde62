/**
 * The bytes of a base64url text, or null unless the text is their one
 * canonical spelling. Node's decoder ignores the padding bits of the last
 * character (a 43-character MAC has two), so without this check several
 * spellings decode to the same MAC and a value "changed" in those bits still
 * verifies: harmless for integrity, but a signed or sealed value must have
 * exactly one accepted form (and tests that flip a character must see a refusal).
 */
export function decodeCanonicalBase64url(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}
