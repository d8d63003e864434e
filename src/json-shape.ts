/**
 * Admission bodies and API objects arrive as untrusted JSON: a field may be missing
 * or of any type. These two guards are what every reader of such input checks with.
 */

/** A JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The value if it is an array, else an empty one. */
export function asArray<T = unknown>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}
