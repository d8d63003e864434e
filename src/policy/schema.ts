// The policy's shape, its defaults and the bounds every field is held to.
// Validation messages quote these tables, so a limit changed here changes
// what users are told as well as what is enforced.

export type AffinityMode = 'preferred' | 'required' | 'shortlist' | 'off';

export const AFFINITY_MODES: readonly AffinityMode[] = Object.freeze(['preferred', 'required', 'shortlist', 'off'] as const);

export interface Policy {
  affinity: {
    mode: AffinityMode;
    weight: number;
    maxNodes: number;
    minScore: number;
    /** Shortlist mode: nodes named in the required hostname expression, holders included. */
    shortlistSize: number;
    /** Shortlist mode: how long a shortlisted pod may stay unschedulable before the controller releases it. */
    releaseAfterSeconds: number;
  };
  images: {
    include: string[];
    exclude: string[];
  };
  namespaces: { exclude: string[] };
  warm: {
    minNodes: number;
    maxConcurrentPullsPerNode: number;
    maxConcurrentPulls: number;
    pullTimeoutSeconds: number;
    /** How long a warm record counts after it was last verified; the controller pulls again at 3/4 of it. */
    recordLifetimeSeconds: number;
    /** The kubelets' --node-status-max-images: a shorter status.images list is every image of the node. */
    nodeStatusMaxImages: number;
  };
}

export interface PolicyError {
  /** Dotted path of the offending key, e.g. 'affinity.weight' or 'images.include[2]'; '' for the document as a whole. */
  field: string;
  message: string;
}

export interface CompiledPolicy {
  policy: Readonly<Policy>;
  /** Expects a normalized reference ('docker.io/library/nginx:1.25'); bare names like 'nginx' never match. */
  selectsImage(normalizedRef: string): boolean;
  excludesNamespace(ns: string): boolean;
  source: string;
}

export type PolicyResult = { ok: true; policy: CompiledPolicy } | { ok: false; errors: PolicyError[] };

export const POLICY_CONFIGMAP_NAME = 'image-locality-policy';
export const POLICY_KEY = 'policy.yaml';

/** A ConfigMap holds at most 1 MiB in total, so a larger policy text cannot have come from a real one. */
export const MAX_POLICY_BYTES = 1024 * 1024;
/** A real policy nests three levels deep; anything far beyond that is an attack on the parser's stack. */
export const MAX_NESTING_DEPTH = 64;
/** yaml's default; a policy has no need for heavy aliasing, and this stops billion-laughs expansion. */
export const MAX_ALIAS_COUNT = 100;
/** Bounds the work per image on the admission path (every pattern is tried for every container). */
export const MAX_PATTERNS_PER_LIST = 256;
/** Enough for a whole repository name (255) plus tag and digest. */
export const MAX_PATTERN_LENGTH = 512;
/** Stops the error list (and log lines made from it) growing with a hostile document. */
export const MAX_ERRORS = 100;

export interface NumberSpec {
  integer: boolean;
  min: number;
  max: number;
}

// Weight 1..100 is the range Kubernetes accepts for a preferred scheduling term.
export const NUMBER_SPECS = {
  'affinity.weight': { integer: true, min: 1, max: 100 },
  'affinity.maxNodes': { integer: true, min: 1, max: 1000 },
  'affinity.minScore': { integer: false, min: 0, max: 1 },
  // The scheduler scores every feasible node when it finds no more than 100 (its
  // floor at every cluster size), so a shortlist beyond 100 could be cut short.
  'affinity.shortlistSize': { integer: true, min: 10, max: 100 },
  'affinity.releaseAfterSeconds': { integer: true, min: 5, max: 3600 },
  'warm.minNodes': { integer: true, min: 0, max: 1000 },
  'warm.maxConcurrentPullsPerNode': { integer: true, min: 1, max: 100 },
  'warm.maxConcurrentPulls': { integer: true, min: 1, max: 10000 },
  'warm.pullTimeoutSeconds': { integer: true, min: 10, max: 86400 },
  // Below 30 s a record would be pulled again before the kubelet's status (30 s image
  // cache refresh) could even show it; a year is far beyond any useful trust.
  'warm.recordLifetimeSeconds': { integer: true, min: 30, max: 31_536_000 },
  // -1 is the kubelet's "no cap"; 0 means the kubelet lists nothing (no list is ever complete).
  'warm.nodeStatusMaxImages': { integer: true, min: -1, max: 100_000 },
} as const satisfies Record<string, NumberSpec>;

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export const DEFAULT_POLICY: Readonly<Policy> = deepFreeze({
  affinity: { mode: 'preferred', weight: 80, maxNodes: 20, minScore: 0.5, shortlistSize: 100, releaseAfterSeconds: 60 },
  images: { include: ['**'], exclude: [] },
  namespaces: { exclude: [] },
  warm: { minNodes: 0, maxConcurrentPullsPerNode: 2, maxConcurrentPulls: 10, pullTimeoutSeconds: 1800, recordLifetimeSeconds: 86_400, nodeStatusMaxImages: 50 },
} satisfies Policy);

export type SectionName = keyof Policy;

/** Key names per section, taken from the defaults so the two cannot drift apart. */
export const SECTION_KEYS: Readonly<Record<SectionName, readonly string[]>> = deepFreeze({
  affinity: Object.keys(DEFAULT_POLICY.affinity),
  images: Object.keys(DEFAULT_POLICY.images),
  namespaces: Object.keys(DEFAULT_POLICY.namespaces),
  warm: Object.keys(DEFAULT_POLICY.warm),
});

export const SECTION_NAMES: readonly SectionName[] = Object.freeze(Object.keys(SECTION_KEYS) as SectionName[]);

/** Every valid path ('affinity', 'affinity.mode', ...), for "did you mean" hints across levels. */
export const ALL_PATHS: readonly string[] = Object.freeze(
  SECTION_NAMES.flatMap((s) => [s, ...SECTION_KEYS[s].map((k) => `${s}.${k}`)]),
);
