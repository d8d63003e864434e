/**
 * Why a pod was skipped, left unchanged, or mutated: stable codes that logs carry
 * and tests compare, beside a human sentence (the `reason`) that may name the
 * namespace or count nodes.
 */

export const SKIP = {
  NOT_CREATE: 'not-create',
  NOT_POD: 'not-pod',
  SUBRESOURCE: 'subresource',
  NO_POD_SPEC: 'no-pod-spec',
  SYSTEM_NAMESPACE: 'system-namespace',
  OWN_NAMESPACE: 'own-namespace',
  EXCLUDED_NAMESPACE: 'excluded-namespace',
  NOT_OPTED_IN: 'namespace-not-opted-in',
  POD_OPTED_OUT: 'pod-opted-out',
  MIRROR_POD: 'mirror-pod',
  BOUND: 'already-bound',
  DAEMONSET: 'daemonset-pod',
  AFFINITY_OFF: 'affinity-mode-off',
  PINNED: 'pinned-to-named-nodes',
  MALFORMED_AFFINITY: 'malformed-affinity',
  MALFORMED_ANNOTATIONS: 'malformed-annotations',
  UNPATCHABLE: 'unpatchable',
} as const;

export const UNCHANGED = {
  NOT_SYNCED: 'view-not-synced',
  NO_SELECTED_IMAGE: 'no-selected-image',
  TOO_MANY_IMAGES: 'too-many-images',
  NO_HOLDER: 'no-holder',
  NO_ELIGIBLE_HOLDER: 'no-eligible-holder',
  ALL_ELIGIBLE_HOLD: 'all-eligible-hold',
  ALREADY_REQUIRED: 'already-required',
  WORK_BUDGET_SPENT: 'work-budget-spent',
  SAME_AS_BEFORE: 'same-as-before',
} as const;

export const MUTATED = {
  PREFERRED: 'preferred',
  REQUIRED: 'required',
  /** Required mode, but no holder satisfies the user's terms, or ANDing would multiply them. */
  REQUIRED_FELL_BACK: 'required-fell-back-to-preferred',
  /** Shortlist mode: holders plus fallbacks required by hostname, holders preferred. */
  SHORTLIST: 'shortlist',
  /** Shortlist mode, but no shortlist for this pod (see NO_SHORTLIST). */
  SHORTLIST_FELL_BACK: 'shortlist-fell-back-to-preferred',
  /** Only our own stale terms were taken out. */
  CLEARED: 'cleared',
} as const;

export type SkipCode = (typeof SKIP)[keyof typeof SKIP];
export type UnchangedCode = (typeof UNCHANGED)[keyof typeof UNCHANGED];
export type MutatedCode = (typeof MUTATED)[keyof typeof MUTATED];
