/**
 * Node labels as the rest of the product sees them: a plain object of strings.
 * Lookups go through `labelValue`, which reads own properties only, so that a pod
 * asking for `constructor` or `__proto__` sees what the node has, not what every
 * JavaScript object inherits.
 */

export type Labels = Readonly<Record<string, string>>;

export function labelValue(labels: Labels, key: string): string | undefined {
  if (!Object.hasOwn(labels, key)) return undefined;
  const value = labels[key];
  return typeof value === 'string' ? value : undefined;
}

const keysOf = new WeakMap<Labels, readonly string[]>();

/** Own label keys of a node; cached per labels object (nodes keep theirs until they change). */
export function labelKeys(labels: Labels): readonly string[] {
  let keys = keysOf.get(labels);
  if (!keys) {
    keys = Object.keys(labels);
    keysOf.set(labels, keys);
  }
  return keys;
}
