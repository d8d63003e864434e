import jsonpatch from 'jsonpatch';
import { isObject } from '../json-shape.js';

/** RFC 6902 operations this product emits. */
export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** RFC 6901: '~' first, then '/', so that 'a/b' becomes 'a~1b' and '~1' stays literal. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(tokens: readonly string[]): string {
  return tokens.map((t) => '/' + escapePointerToken(t)).join('');
}

export class PatchBuildError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`cannot patch ${path}: ${reason}`);
  }
}

/**
 * Operations that set `tokens` to `value` in `doc`, creating missing parents in one
 * `add` (a JSON Patch `add` fails when the parent is absent). A parent that exists
 * but is not an object is user data we must not overwrite, so that throws.
 */
export function setValue(doc: unknown, tokens: readonly string[], value: unknown): PatchOperation[] {
  let current: unknown = doc;
  for (let i = 0; i < tokens.length; i++) {
    if (!isObject(current)) throw new PatchBuildError(pointer(tokens.slice(0, i)), 'parent is not an object');
    const token = tokens[i] as string;
    const next = current[token];
    const isLast = i === tokens.length - 1;
    if (next === undefined || next === null) {
      let nested: unknown = value;
      for (let j = tokens.length - 1; j > i; j--) nested = { [tokens[j] as string]: nested };
      return [{ op: 'add', path: pointer(tokens.slice(0, i + 1)), value: nested }];
    }
    if (isLast) return [{ op: 'replace', path: pointer(tokens), value }];
    current = next;
  }
  return [{ op: 'replace', path: '', value }];
}

/** Remove `tokens` if present; nothing to do otherwise. */
export function removeValue(doc: unknown, tokens: readonly string[]): PatchOperation[] {
  let current: unknown = doc;
  for (const token of tokens) {
    if (!isObject(current) || !(token in current)) return [];
    current = current[token];
  }
  return [{ op: 'remove', path: pointer(tokens) }];
}

export type PatchCheck = { ok: true; patched: unknown } | { ok: false; reason: string };

/**
 * Apply the patch to the object we were sent, with an independent implementation,
 * so that a patch the API server would fail to apply is never sent.
 *
 * The library copies every container along an operation's path unless told to
 * modify the document in place, which makes many `/-` appends to a long list cost
 * (appends x list length). A caller that owns `doc` and will not read it again
 * passes `consume: true`: then the document is modified in place, in time linear in
 * the patch, and the operations are copied first so that the patch we send is
 * never changed by its own application.
 */
export function checkPatchApplies(doc: unknown, ops: readonly PatchOperation[], options: { consume?: boolean } = {}): PatchCheck {
  try {
    if (!options.consume) return { ok: true, patched: jsonpatch.apply_patch(doc, ops) };
    const copy = JSON.parse(JSON.stringify(ops)) as PatchOperation[];
    return { ok: true, patched: new jsonpatch.JSONPatch(copy, true).apply(doc) };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}
