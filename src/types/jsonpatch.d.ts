// jsonpatch ships no type declarations; this covers the part of its API we use.
declare module 'jsonpatch' {
  export function apply_patch<T = unknown>(doc: T, patch: readonly object[]): T;
  export class InvalidPatch extends Error {}
  export class PatchApplyError extends Error {}
  /** A compiled patch; with `mutate` true, apply() changes the document in place. */
  export class JSONPatch {
    constructor(patch: readonly object[], mutate?: boolean);
    apply<T = unknown>(doc: T): T;
  }
  const jsonpatch: {
    JSONPatch: typeof JSONPatch;
    apply_patch: typeof apply_patch;
    InvalidPatch: typeof InvalidPatch;
    PatchApplyError: typeof PatchApplyError;
  };
  export default jsonpatch;
}
