/**
 * The order of round `round` (0-based): the list rotated by `round`, so no
 * variant always runs first, or always right after the same neighbour.
 */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const shift = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
