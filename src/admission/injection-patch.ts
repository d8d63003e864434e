import { POD_INJECTED } from '../annotations.js';
import { isObject } from '../json-shape.js';
import { ownPreferredShape, pairKey } from './injection.js';
import { pointer, removeValue, setValue, type PatchOperation } from './json-patch.js';

/**
 * JSON Patch operations that apply an injection to the pod as it arrived, touching
 * only what changes: our preferred terms are appended with `/-` and stale ones
 * removed by index, so the patch (and the work to apply it) grows with what we
 * inject, not with what the user wrote. The one exception is required mode with
 * user terms, where the user's term list is replaced by its (bounded) AND with the
 * holders.
 */

const NODE_AFFINITY = ['spec', 'affinity', 'nodeAffinity'] as const;
const PREFERRED = [...NODE_AFFINITY, 'preferredDuringSchedulingIgnoredDuringExecution'];
const REQUIRED_TERMS = [...NODE_AFFINITY, 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms'];
const ANNOTATION = ['metadata', 'annotations', POD_INJECTED];

/** Beyond this many stale terms not at the end, one `replace` of the list is cheaper to apply. */
const MAX_REMOVE_OPS = 16;

export interface InjectionChange {
  /** The pod's preferred terms as they arrived (null: none). */
  preferred: readonly unknown[] | null;
  /** Indices (ascending) of preferred terms that are ours from an earlier invocation. */
  stalePreferred: readonly number[];
  /** Preferred terms to inject now. */
  newPreferred: readonly unknown[];
  /** Replacement for the required terms (null: leave them alone). */
  required: readonly unknown[] | null;
  /** Whether the pod has required terms of its own (then they are replaced, else added). */
  userHasRequired: boolean;
  /** The record to write (undefined: none). */
  recordText: string | undefined;
  /** The annotation as it arrived. */
  previousRecord: unknown;
}

/** Drop new terms that the user (or a surviving term) already states identically. */
export function withoutDuplicates(kept: readonly unknown[], fresh: readonly unknown[]): unknown[] {
  const freshNames = new Set<string>();
  for (const term of fresh) {
    const shape = ownPreferredShape(term);
    if (shape) freshNames.add(shape[0]);
  }
  const present = new Set<string>();
  for (const term of kept) {
    // Cheap look at the named node first: most kept terms are the user's own.
    const name = (term as { preference?: { matchFields?: Array<{ values?: unknown[] }> } } | null)?.preference?.matchFields?.[0]?.values?.[0];
    if (typeof name !== 'string' || !freshNames.has(name)) continue;
    const shape = ownPreferredShape(term);
    if (shape) present.add(pairKey(shape[0], shape[1]));
  }
  return fresh.filter((term) => {
    const shape = ownPreferredShape(term);
    if (!shape) return true;
    const key = pairKey(shape[0], shape[1]);
    if (present.has(key)) return false;
    present.add(key);
    return true;
  });
}

function sameTerm(a: unknown, b: unknown): boolean {
  const sa = ownPreferredShape(a);
  const sb = ownPreferredShape(b);
  return sa !== undefined && sb !== undefined && sa[0] === sb[0] && sa[1] === sb[1];
}

function preferredOps(pod: unknown, change: InjectionChange): PatchOperation[] {
  const current = change.preferred;
  const stale = change.stalePreferred;
  if (current === null) return change.newPreferred.length > 0 ? setValue(pod, PREFERRED, [...change.newPreferred]) : [];
  const staleSet = new Set(stale);
  const kept = stale.length === 0 ? current : current.filter((_, i) => !staleSet.has(i));
  const fresh = withoutDuplicates(kept, change.newPreferred);

  // Reinvocation with the same answer: our terms are the tail and equal the new ones.
  const tail = current.length - stale.length;
  if (stale.length === fresh.length && stale.every((index, i) => index === tail + i && sameTerm(current[index], fresh[i]))) return [];

  if (kept.length + fresh.length === 0) return [{ op: 'remove', path: pointer(PREFERRED) }];
  // Removing the last element is cheap for any applier; elsewhere each removal
  // shifts the list, so many scattered ones become one replace.
  const staleTail = stale.every((index, i) => index === tail + i);
  if (stale.length > MAX_REMOVE_OPS && !staleTail) return [{ op: 'replace', path: pointer(PREFERRED), value: [...kept, ...fresh] }];
  const ops: PatchOperation[] = [];
  for (let i = stale.length - 1; i >= 0; i--) ops.push({ op: 'remove', path: pointer([...PREFERRED, String(stale[i])]) });
  for (const term of fresh) ops.push({ op: 'add', path: pointer([...PREFERRED, '-']), value: term });
  return ops;
}

function requiredOps(pod: unknown, change: InjectionChange): PatchOperation[] {
  if (change.required === null) return [];
  if (change.userHasRequired) return [{ op: 'replace', path: pointer(REQUIRED_TERMS), value: [...change.required] }];
  return setValue(pod, REQUIRED_TERMS, [...change.required]);
}

function recordOps(pod: unknown, change: InjectionChange): PatchOperation[] {
  if (change.recordText !== undefined) {
    return change.recordText === change.previousRecord ? [] : setValue(pod, ANNOTATION, change.recordText);
  }
  return change.previousRecord === undefined ? [] : removeValue(pod, ANNOTATION);
}

/**
 * All operations, in an order that applies. When the pod has no node affinity yet
 * and both preferred and required terms are added (shortlist mode), one `add`
 * creates it with both: two parent-creating adds would overwrite each other.
 */
export function injectionPatch(pod: unknown, change: InjectionChange): PatchOperation[] {
  if (change.required !== null && change.newPreferred.length > 0 && !hasNodeAffinity(pod)) {
    const nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [...change.required] },
      preferredDuringSchedulingIgnoredDuringExecution: [...change.newPreferred],
    };
    return [...setValue(pod, NODE_AFFINITY, nodeAffinity), ...recordOps(pod, change)];
  }
  return [...preferredOps(pod, change), ...requiredOps(pod, change), ...recordOps(pod, change)];
}

function hasNodeAffinity(pod: unknown): boolean {
  const spec = isObject(pod) ? pod['spec'] : undefined;
  const affinity = isObject(spec) ? spec['affinity'] : undefined;
  return isObject(affinity) && isObject(affinity['nodeAffinity']);
}
