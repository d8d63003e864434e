/**
 * JSON text of untrusted values whose size is not known in advance: the writer
 * stops as soon as the text would pass a limit, so asking "is this short enough
 * to use as a key" costs at most about the limit, not the whole value.
 */

const TOO_LONG = Symbol('too long');

/** JSON of `value`, or undefined as soon as it would pass about `maxChars` characters. */
export function boundedJson(value: unknown, maxChars: number): string | undefined {
  let size = 0;
  try {
    return JSON.stringify(value, (key, v: unknown) => {
      size += key.length + (typeof v === 'string' ? v.length : 4);
      if (size > maxChars) throw TOO_LONG;
      return v;
    });
  } catch (err) {
    if (err === TOO_LONG) return undefined;
    throw err;
  }
}
