// jsonpatch ships no type declarations; this covers the part of its API we use.
declare module 'jsonpatch' {
  export function apply_patch<T = unknown>(doc: T, patch: readonly object[]): T;
  export class InvalidPatch extends Error {}
  export class PatchApplyError extends Error {}
  const jsonpatch: {
    apply_patch: typeof apply_patch;
    InvalidPatch: typeof InvalidPatch;
    PatchApplyError: typeof PatchApplyError;
  };
  export default jsonpatch;
}
