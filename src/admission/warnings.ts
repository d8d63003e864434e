/**
 * Admission warnings shown to the user by kubectl. Kubernetes asks webhooks to
 * keep each warning to 120 characters or fewer, and the user's own text (an image
 * reference) can be any length, so it is cut to fit with an ellipsis.
 */

export const MAX_WARNING_LENGTH = 120;
const ELLIPSIS = '…';

/** `before + quoted + after`, with `quoted` shortened so the whole fits in 120 characters. */
export function boundedWarning(before: string, quoted: string, after: string): string {
  const room = MAX_WARNING_LENGTH - before.length - after.length;
  // Count code points, not UTF-16 units, so a cut never splits a surrogate pair.
  const chars = Array.from(quoted.length > room * 2 + 2 ? quoted.slice(0, room * 2 + 2) : quoted);
  const shown = chars.length <= room ? chars.join('') : chars.slice(0, Math.max(0, room - 1)).join('') + ELLIPSIS;
  const text = before + shown + after;
  return Array.from(text).length <= MAX_WARNING_LENGTH ? text : Array.from(text).slice(0, MAX_WARNING_LENGTH).join('');
}

export function invalidImageWarnings(invalid: readonly string[], invalidCount: number): string[] {
  const out = invalid.map((image) => boundedWarning('image-locality: image "', image, '" is not a valid reference; not considered'));
  if (invalidCount > invalid.length) {
    out.push(`image-locality: ${invalidCount - invalid.length} more invalid image references not considered`);
  }
  return out;
}
