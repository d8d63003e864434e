/**
 * The ImageCache custom resource (image-locality.dev/v1alpha1): its TypeScript
 * types, validation and normalization of its spec, and the construction of its
 * status. Everything here is pure: no I/O, no clock (callers pass `now`), nothing
 * throws on bad input.
 *
 * The CRD (webhook-config/imagecache-crd.yaml) enforces the same rules on the API
 * server; parseImageCacheSpec repeats them because objects can also come from
 * files (snapshots, tests) or from a cluster whose CRD is older, and because image
 * references are checked here with the same grammar the webhook uses, which a CRD
 * schema cannot express.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { normalizeImage, parseImageReference } from '../images/reference.js';
import { isObject } from '../json-shape.js';

// ------------------------------------------------------------------ constants

export const IMAGECACHE_GROUP = 'image-locality.dev';
export const IMAGECACHE_VERSION = 'v1alpha1';
export const IMAGECACHE_API_VERSION = `${IMAGECACHE_GROUP}/${IMAGECACHE_VERSION}`;
export const IMAGECACHE_KIND = 'ImageCache';
export const IMAGECACHE_PLURAL = 'imagecaches';
export const IMAGECACHE_SINGULAR = 'imagecache';
export const IMAGECACHE_SHORT_NAME = 'ic';
export const IMAGECACHE_CRD_NAME = `${IMAGECACHE_PLURAL}.${IMAGECACHE_GROUP}`;
/** Any new value of this annotation asks for an immediate refresh (re-pull). */
export const REFRESH_ANNOTATION = 'image-locality.dev/refresh';

export const MAX_IMAGES = 256;
export const MAX_IMAGE_LENGTH = 1024;
export const MAX_TOLERATIONS = 64;
export const MAX_PULL_SECRETS = 32;
export const MAX_NODE_SELECTOR_LABELS = 64;
export const MIN_REFRESH_INTERVAL_MS = 60_000;
export const MAX_REFRESH_INTERVAL_MS = 8760 * 3_600_000;
/** Default bound on status.images[*].nodes entries in total (keeps the object far below etcd's 1.5 MiB). */
export const DEFAULT_MAX_NODE_ENTRIES = 2000;
/** Same limits as the CRD schema. */
export const MAX_REASON_LENGTH = 1024;
export const MAX_MESSAGE_LENGTH = 32768;

export const CONDITION_READY = 'Ready';
export const ReadyReason = {
  AllCached: 'AllCached',
  Pending: 'Pending',
  Pulling: 'Pulling',
  PullFailed: 'PullFailed',
  NoMatchingNodes: 'NoMatchingNodes',
  NoImages: 'NoImages',
  InvalidSpec: 'InvalidSpec',
} as const;
export type ReadyReason = (typeof ReadyReason)[keyof typeof ReadyReason];

// ------------------------------------------------------------------ resource types

export type ImageNodeState = 'pending' | 'pulling' | 'cached' | 'failed';
export const IMAGE_NODE_STATES: readonly ImageNodeState[] = ['pending', 'pulling', 'cached', 'failed'];

export type TolerationOperator = 'Exists' | 'Equal';
export type TaintEffect = '' | 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Toleration {
  key?: string;
  operator?: TolerationOperator;
  value?: string;
  effect?: TaintEffect;
  tolerationSeconds?: number;
}

export interface ImageCacheSpec {
  images: string[];
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  imagePullSecrets?: { name: string }[];
  /** Go duration, e.g. '6h'. */
  refreshInterval?: string;
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface ImageNodeStatus {
  node: string;
  state: ImageNodeState;
  reason?: string;
  lastPulledTime?: string;
  lastTransitionTime: string;
}

export interface ImageStatus {
  /** Normalized reference (imageKey), what node status reports. */
  image: string;
  /** The spec entry as written, used for pulling. */
  reference?: string;
  cachedNodes: number;
  failedNodes?: number;
  wantedNodes: number;
  /** Entries left out of `nodes` to bound the object's size. */
  omittedNodes?: number;
  nodes: ImageNodeStatus[];
}

export interface ImageCacheStatus {
  observedGeneration?: number;
  /** Value of REFRESH_ANNOTATION that the last refresh handled. */
  observedRefresh?: string;
  imageCount?: number;
  wantedNodes?: number;
  /** Selected nodes holding every image. */
  cachedNodes?: number;
  /** `${cachedNodes}/${wantedNodes}`, for `kubectl get`. */
  nodes?: string;
  conditions?: Condition[];
  images?: ImageStatus[];
}

export interface ImageCache {
  apiVersion: typeof IMAGECACHE_API_VERSION;
  kind: typeof IMAGECACHE_KIND;
  metadata: V1ObjectMeta;
  spec: ImageCacheSpec;
  status?: ImageCacheStatus;
}

// ------------------------------------------------------------------ normalized spec

export interface NormalizedImage {
  /** Normalized reference: compared with node status, used as the status key. */
  image: string;
  /** The reference as the user wrote it (first one, when several collapse): what gets pulled. */
  reference: string;
}

export interface NormalizedSpec {
  /** Distinct images, in the order of their first appearance in the spec. */
  images: NormalizedImage[];
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  /** Distinct names, in spec order. */
  imagePullSecrets: { name: string }[];
  /** Undefined: no periodic refresh. */
  refreshIntervalMs: number | undefined;
}

export type ParseSpecResult = { ok: true; spec: NormalizedSpec; warnings: string[] } | { ok: false; errors: string[] };

/** The CRD's pattern for spec.refreshInterval (Go duration without sign; digits on both sides of a '.'). */
export const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+$';
const GO_DURATION = new RegExp(GO_DURATION_PATTERN);
const GO_DURATION_PART = /([0-9]+)(?:\.([0-9]+))?(ns|us|µs|μs|ms|s|m|h)/y;
const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_GO_DURATION_NS = 2n ** 63n - 1n;

/**
 * Nanoseconds of a Go duration such as '6h', '1h30m', '1.5s', '250ms' (no sign;
 * the form the CRD's pattern accepts), computed exactly as Go's time.ParseDuration
 * does (fractions truncated to whole nanoseconds), or undefined when it is not one
 * or overflows int64 as Go's would.
 */
export function parseGoDurationNs(text: string): bigint | undefined {
  if (typeof text !== 'string' || text.length > 64 || !GO_DURATION.test(text)) return undefined;
  let ns = 0n;
  GO_DURATION_PART.lastIndex = 0;
  while (GO_DURATION_PART.lastIndex < text.length) {
    const m = GO_DURATION_PART.exec(text);
    if (!m) return undefined;
    const unit = UNIT_NS[m[3]!]!;
    ns += BigInt(m[1]!) * unit;
    if (m[2]) ns += (BigInt(m[2]) * unit) / 10n ** BigInt(m[2].length);
    if (ns > MAX_GO_DURATION_NS) return undefined;
  }
  return ns;
}

/** Milliseconds (possibly fractional) of a Go duration; see parseGoDurationNs. */
export function parseGoDuration(text: string): number | undefined {
  const ns = parseGoDurationNs(text);
  return ns === undefined ? undefined : Number(ns) / 1e6;
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A valid label key: optional DNS-subdomain prefix (<= 253) and '/', then a name (<= 63). */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return LABEL_NAME.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 77) + '...' : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

const OPERATORS = new Set(['Exists', 'Equal']);
const EFFECTS = new Set(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute']);

function parseToleration(t: unknown, path: string, errors: string[]): Toleration | undefined {
  if (!isObject(t)) {
    errors.push(`${path}: must be an object, got ${show(t)}`);
    return undefined;
  }
  const out: Toleration = {};
  const before = errors.length;
  for (const field of ['key', 'operator', 'value', 'effect'] as const) {
    const v = t[field];
    if (v !== undefined && typeof v !== 'string') errors.push(`${path}.${field}: must be a string, got ${show(v)}`);
  }
  if (errors.length > before) return undefined;
  const key = t['key'] as string | undefined;
  const operator = t['operator'] as string | undefined;
  const value = t['value'] as string | undefined;
  const effect = t['effect'] as string | undefined;
  if (operator !== undefined && !OPERATORS.has(operator)) errors.push(`${path}.operator: must be Exists or Equal, got ${show(operator)}`);
  if (effect !== undefined && !EFFECTS.has(effect)) {
    errors.push(`${path}.effect: must be NoSchedule, PreferNoSchedule, NoExecute or empty, got ${show(effect)}`);
  }
  if (operator === 'Exists' && value) errors.push(`${path}.value: must be empty when operator is Exists`);
  if (!key && operator !== 'Exists') errors.push(`${path}.key: an empty key requires operator Exists`);
  if (key && key.length > 317) errors.push(`${path}.key: longer than 317 characters`);
  if (value && value.length > 63) errors.push(`${path}.value: longer than 63 characters`);
  const seconds = t['tolerationSeconds'];
  if (seconds !== undefined) {
    if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds)) {
      errors.push(`${path}.tolerationSeconds: must be an integer, got ${show(seconds)}`);
    } else if (effect !== 'NoExecute') {
      errors.push(`${path}.tolerationSeconds: only allowed with effect NoExecute`);
    } else {
      out.tolerationSeconds = seconds;
    }
  }
  if (errors.length > before) return undefined;
  if (key !== undefined) out.key = key;
  if (operator !== undefined) out.operator = operator as TolerationOperator;
  if (value !== undefined) out.value = value;
  if (effect !== undefined) out.effect = effect as TaintEffect;
  return out;
}

/**
 * Validate and normalize an ImageCache spec (the `spec` object, or anything).
 * Every problem is reported, each naming its field; images are normalized with the
 * webhook's reference grammar and entries naming the same image collapse into one
 * (reported as warnings).
 */
export function parseImageCacheSpec(obj: unknown): ParseSpecResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!isObject(obj)) return { ok: false, errors: [`spec: must be an object, got ${show(obj)}`] };

  // images
  const images: NormalizedImage[] = [];
  const rawImages = obj['images'];
  if (rawImages === undefined) {
    errors.push('spec.images: required (a list of 1 to 256 image references)');
  } else if (!Array.isArray(rawImages)) {
    errors.push(`spec.images: must be a list of image references, got ${show(rawImages)}`);
  } else {
    if (rawImages.length === 0) errors.push('spec.images: must list at least one image');
    if (rawImages.length > MAX_IMAGES) errors.push(`spec.images: lists ${rawImages.length} images; the limit is ${MAX_IMAGES}`);
    const seen = new Map<string, number>();
    rawImages.forEach((raw: unknown, i: number) => {
      const path = `spec.images[${i}]`;
      if (typeof raw !== 'string') return void errors.push(`${path}: must be a string, got ${show(raw)}`);
      if (raw.length === 0) return void errors.push(`${path}: must not be empty`);
      if (raw.length > MAX_IMAGE_LENGTH) return void errors.push(`${path}: longer than ${MAX_IMAGE_LENGTH} characters`);
      if (raw.trim() !== raw) return void errors.push(`${path}: ${show(raw)} has leading or trailing whitespace`);
      const parsed = parseImageReference(raw);
      if (!parsed.ok) return void errors.push(`${path}: ${show(raw)} is not a valid image reference: ${parsed.error.reason}`);
      const key = normalizeImage(raw)!;
      const first = seen.get(key);
      if (first !== undefined) {
        warnings.push(`${path}: ${show(raw)} is the same image as spec.images[${first}] (${key}); listed once`);
        return;
      }
      seen.set(key, i);
      images.push({ image: key, reference: raw });
    });
  }

  // nodeSelector
  const nodeSelector: Record<string, string> = {};
  const rawSelector = obj['nodeSelector'];
  if (rawSelector !== undefined && rawSelector !== null) {
    if (!isObject(rawSelector)) {
      errors.push(`spec.nodeSelector: must be a map of label keys to values, got ${show(rawSelector)}`);
    } else {
      const keys = Object.keys(rawSelector);
      if (keys.length > MAX_NODE_SELECTOR_LABELS) errors.push(`spec.nodeSelector: has ${keys.length} labels; the limit is ${MAX_NODE_SELECTOR_LABELS}`);
      for (const key of keys.sort()) {
        const value = rawSelector[key];
        const path = `spec.nodeSelector[${JSON.stringify(key)}]`;
        if (!isLabelKey(key)) errors.push(`${path}: ${show(key)} is not a valid label key`);
        if (typeof value !== 'string') errors.push(`${path}: value must be a string, got ${show(value)}`);
        else if (!isLabelValue(value)) errors.push(`${path}: ${show(value)} is not a valid label value`);
        else nodeSelector[key] = value;
      }
    }
  }

  // tolerations
  const tolerations: Toleration[] = [];
  const rawTolerations = obj['tolerations'];
  if (rawTolerations !== undefined && rawTolerations !== null) {
    if (!Array.isArray(rawTolerations)) {
      errors.push(`spec.tolerations: must be a list, got ${show(rawTolerations)}`);
    } else {
      if (rawTolerations.length > MAX_TOLERATIONS) errors.push(`spec.tolerations: the limit is ${MAX_TOLERATIONS} entries`);
      rawTolerations.forEach((t: unknown, i: number) => {
        const parsed = parseToleration(t, `spec.tolerations[${i}]`, errors);
        if (parsed) tolerations.push(parsed);
      });
    }
  }

  // imagePullSecrets
  const imagePullSecrets: { name: string }[] = [];
  const rawSecrets = obj['imagePullSecrets'];
  if (rawSecrets !== undefined && rawSecrets !== null) {
    if (!Array.isArray(rawSecrets)) {
      errors.push(`spec.imagePullSecrets: must be a list of {name}, got ${show(rawSecrets)}`);
    } else {
      if (rawSecrets.length > MAX_PULL_SECRETS) errors.push(`spec.imagePullSecrets: the limit is ${MAX_PULL_SECRETS} entries`);
      const names = new Set<string>();
      rawSecrets.forEach((s: unknown, i: number) => {
        const path = `spec.imagePullSecrets[${i}]`;
        const name = isObject(s) ? s['name'] : undefined;
        if (typeof name !== 'string' || name.length === 0) return void errors.push(`${path}.name: required, a non-empty string`);
        if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) return void errors.push(`${path}.name: ${show(name)} is not a valid Secret name`);
        if (!names.has(name)) imagePullSecrets.push({ name });
        names.add(name);
      });
    }
  }

  // refreshInterval
  let refreshIntervalMs: number | undefined;
  const rawRefresh = obj['refreshInterval'];
  if (rawRefresh !== undefined && rawRefresh !== null) {
    const ns = typeof rawRefresh === 'string' ? parseGoDurationNs(rawRefresh) : undefined;
    if (ns === undefined) {
      errors.push(`spec.refreshInterval: ${show(rawRefresh)} is not a duration such as "30m", "6h" or "1h30m"`);
    } else if (ns < BigInt(MIN_REFRESH_INTERVAL_MS) * 1_000_000n || ns > BigInt(MAX_REFRESH_INTERVAL_MS) * 1_000_000n) {
      errors.push(`spec.refreshInterval: ${show(rawRefresh)} is out of range; use 1m to 8760h`);
    } else {
      refreshIntervalMs = Number(ns) / 1e6;
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, spec: { images, nodeSelector, tolerations, imagePullSecrets, refreshIntervalMs }, warnings };
}

/** The refresh annotation's value, or undefined. */
export function refreshAnnotation(obj: { metadata?: V1ObjectMeta } | undefined): string | undefined {
  return obj?.metadata?.annotations?.[REFRESH_ANNOTATION];
}

/** True when the refresh annotation holds a value that the status does not record as handled. */
export function refreshRequested(obj: { metadata?: V1ObjectMeta; status?: ImageCacheStatus } | undefined): boolean {
  const value = refreshAnnotation(obj);
  return value !== undefined && value !== (obj?.status?.observedRefresh ?? undefined);
}

// ------------------------------------------------------------------ status

/** What the controller knows about one image on one node. */
export interface ImageNodeObservation {
  /** Normalized reference, as in NormalizedImage.image. */
  image: string;
  node: string;
  state: ImageNodeState;
  reason?: string;
  lastPulledTime?: string | Date;
  /** Default: kept from `previous` when the state did not change, else `now`. */
  lastTransitionTime?: string | Date;
}

export interface BuildStatusInput {
  /** metadata.generation of the object the status describes. */
  generation: number | undefined;
  images: readonly NormalizedImage[];
  /** Nodes selected by nodeSelector and tolerations. */
  wantedNodes: readonly string[];
  /** Missing (image, wanted node) pairs are pending; pairs outside images x wantedNodes are ignored. */
  observations: Iterable<ImageNodeObservation>;
  /** The current status: transition times of unchanged states and conditions are kept from it. */
  previous?: ImageCacheStatus | undefined;
  now: Date;
  /** Default: previous.observedRefresh. */
  observedRefresh?: string | undefined;
  /** Bound on node entries across all images (default DEFAULT_MAX_NODE_ENTRIES); counts stay exact. */
  maxNodeEntries?: number;
}

/** RFC 3339 in UTC with whole seconds, as metav1.Time serializes. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function timeValue(t: string | Date | undefined): string | undefined {
  if (t === undefined) return undefined;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : rfc3339(d);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

const STATE_ORDER: Record<ImageNodeState, number> = { failed: 0, pulling: 1, pending: 2, cached: 3 };
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sorted without duplicates already (the eligible nodes are): no copy, set or sort needed. */
function ascending(names: readonly string[]): boolean {
  for (let i = 1; i < names.length; i++) if (!((names[i - 1] as string) < (names[i] as string))) return false;
  return true;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Set `cond` in `conditions` (by type), keeping lastTransitionTime when the status
 * did not change. Returns a new list sorted by type.
 */
export function setCondition(conditions: readonly Condition[] | undefined, cond: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const prev = conditions?.find((c) => c.type === cond.type);
  const next: Condition = {
    type: cond.type,
    status: cond.status,
    reason: cond.reason,
    message: truncate(cond.message, MAX_MESSAGE_LENGTH),
    lastTransitionTime: prev && prev.status === cond.status && prev.lastTransitionTime ? prev.lastTransitionTime : rfc3339(now),
    ...(cond.observedGeneration !== undefined ? { observedGeneration: cond.observedGeneration } : {}),
  };
  return [...(conditions ?? []).filter((c) => c.type !== cond.type), next].sort((a, b) => byString(a.type, b.type));
}

/**
 * The status for the given images, selected nodes and per-(image, node)
 * observations. Deterministic: images sorted by normalized reference, nodes by
 * name, conditions by type; a transition time changes only with its state, so a
 * rebuild from unchanged inputs equals `previous` (see statusChanged).
 *
 * When images x nodes exceeds maxNodeEntries, each image lists its failed, pulling
 * and pending nodes first and leaves cached ones out (omittedNodes); all counts
 * stay exact.
 */
export function buildImageCacheStatus(input: BuildStatusInput): ImageCacheStatus {
  const now = input.now;
  const nowText = rfc3339(now);
  const nodes = ascending(input.wantedNodes) ? input.wantedNodes : [...new Set(input.wantedNodes)].sort(byString);
  const imageRefs = new Map<string, string>();
  for (const img of input.images) if (!imageRefs.has(img.image)) imageRefs.set(img.image, img.reference);
  const images = [...imageRefs.keys()].sort(byString);

  const observed = new Map<string, Map<string, ImageNodeObservation>>();
  for (const o of input.observations) {
    // Pairs outside images x nodes are never looked up below.
    let perNode = observed.get(o.image);
    if (!perNode) observed.set(o.image, (perNode = new Map()));
    perNode.set(o.node, o);
  }
  const previous = new Map<string, Map<string, ImageNodeStatus>>();
  for (const img of input.previous?.images ?? []) {
    previous.set(img.image, new Map((img.nodes ?? []).map((n) => [n.node, n])));
  }

  const perImageBudget = Math.max(1, Math.floor((input.maxNodeEntries ?? DEFAULT_MAX_NODE_ENTRIES) / Math.max(1, images.length)));
  /** Per node (by position in `nodes`): how many images it holds. */
  const cachedPerNode = new Uint32Array(nodes.length);
  const totals = { cached: 0, failed: 0, pulling: 0, pending: 0 };
  let firstFailure: { image: string; node: string; reason: string | undefined } | undefined;

  // Per image: each node's state first (counts need them all), then entry objects
  // only for the nodes listed, so an image on thousands of nodes allocates no more
  // than the budget.
  const states: ImageNodeState[] = new Array<ImageNodeState>(nodes.length);
  const imageStatuses: ImageStatus[] = images.map((image) => {
    const obs = observed.get(image);
    const prev = previous.get(image);
    let cached = 0;
    let failed = 0;
    let pulling = 0;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as string;
      const o = obs?.get(node);
      const state = o?.state && STATE_ORDER[o.state] !== undefined ? o.state : 'pending';
      states[i] = state;
      if (state === 'cached') {
        cached++;
        cachedPerNode[i] = (cachedPerNode[i] ?? 0) + 1;
      } else if (state === 'failed') {
        failed++;
        if (!firstFailure) firstFailure = { image, node, reason: o?.reason ? truncate(o.reason, MAX_REASON_LENGTH) : undefined };
      } else if (state === 'pulling') {
        pulling++;
      }
    }
    const pending = nodes.length - cached - failed - pulling;
    totals.cached += cached;
    totals.failed += failed;
    totals.pulling += pulling;
    totals.pending += pending;
    // Over budget: failed, then pulling, then pending, then cached nodes, each by
    // name, up to the budget; listed in name order.
    let quota: Record<ImageNodeState, number> | undefined;
    if (nodes.length > perImageBudget) {
      let left = perImageBudget;
      const take = (n: number): number => {
        const t = Math.min(n, left);
        left -= t;
        return t;
      };
      quota = { failed: take(failed), pulling: take(pulling), pending: take(pending), cached: take(cached) };
    }
    const listed: ImageNodeStatus[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const state = states[i] as ImageNodeState;
      if (quota) {
        if (quota[state] === 0) continue;
        quota[state]--;
      }
      const node = nodes[i] as string;
      const o = obs?.get(node);
      const p = prev?.get(node);
      const reason = o?.reason ? truncate(o.reason, MAX_REASON_LENGTH) : undefined;
      const lastPulledTime = timeValue(o?.lastPulledTime) ?? p?.lastPulledTime;
      const lastTransitionTime =
        timeValue(o?.lastTransitionTime) ?? (p && p.state === state && p.lastTransitionTime ? p.lastTransitionTime : nowText);
      // One literal per shape: no temporary objects per entry, and the same key order as before.
      const entry: ImageNodeStatus =
        reason !== undefined
          ? lastPulledTime !== undefined
            ? { node, state, reason, lastPulledTime, lastTransitionTime }
            : { node, state, reason, lastTransitionTime }
          : lastPulledTime !== undefined
          ? { node, state, lastPulledTime, lastTransitionTime }
          : { node, state, lastTransitionTime };
      listed.push(entry);
    }
    return {
      image,
      reference: imageRefs.get(image)!,
      cachedNodes: cached,
      ...(failed > 0 ? { failedNodes: failed } : {}),
      wantedNodes: nodes.length,
      ...(listed.length < nodes.length ? { omittedNodes: nodes.length - listed.length } : {}),
      nodes: listed,
    };
  });

  let cachedNodes = 0;
  if (images.length > 0) for (const n of cachedPerNode) if (n === images.length) cachedNodes++;

  const pairs = images.length * nodes.length;
  let ready: Omit<Condition, 'lastTransitionTime'>;
  const gen = input.generation !== undefined ? { observedGeneration: input.generation } : {};
  if (images.length === 0) {
    ready = { type: CONDITION_READY, status: 'False', reason: ReadyReason.NoImages, message: 'the spec lists no images', ...gen };
  } else if (nodes.length === 0) {
    ready = {
      type: CONDITION_READY,
      status: 'False',
      reason: ReadyReason.NoMatchingNodes,
      message: 'no node matches nodeSelector and tolerations',
      ...gen,
    };
  } else if (totals.cached === pairs) {
    ready = {
      type: CONDITION_READY,
      status: 'True',
      reason: ReadyReason.AllCached,
      message: `${plural(images.length, 'image')} cached on all ${plural(nodes.length, 'selected node')}`,
      ...gen,
    };
  } else {
    const done = `${totals.cached} of ${pairs} image pulls done`;
    if (totals.failed > 0) {
      const f = firstFailure!;
      ready = {
        type: CONDITION_READY,
        status: 'False',
        reason: ReadyReason.PullFailed,
        message: `${done}; ${totals.failed} failed, e.g. ${f.image} on ${f.node}${f.reason ? `: ${f.reason}` : ''}`,
        ...gen,
      };
    } else if (totals.pulling > 0) {
      ready = { type: CONDITION_READY, status: 'False', reason: ReadyReason.Pulling, message: `${done}; ${totals.pulling} in progress`, ...gen };
    } else {
      ready = { type: CONDITION_READY, status: 'False', reason: ReadyReason.Pending, message: `${done}; ${totals.pending} waiting`, ...gen };
    }
  }

  const status: ImageCacheStatus = {};
  if (input.generation !== undefined) status.observedGeneration = input.generation;
  const observedRefresh = input.observedRefresh ?? input.previous?.observedRefresh;
  if (observedRefresh !== undefined) status.observedRefresh = observedRefresh;
  status.imageCount = images.length;
  status.wantedNodes = nodes.length;
  status.cachedNodes = cachedNodes;
  status.nodes = `${cachedNodes}/${nodes.length}`;
  status.conditions = setCondition(input.previous?.conditions, ready, now);
  status.images = imageStatuses;
  return status;
}

/** Status for a spec that failed parseImageCacheSpec: Ready=False/InvalidSpec with the errors; per-image state is dropped. */
export function buildInvalidSpecStatus(input: {
  generation: number | undefined;
  errors: readonly string[];
  previous?: ImageCacheStatus | undefined;
  now: Date;
}): ImageCacheStatus {
  const status: ImageCacheStatus = {};
  if (input.generation !== undefined) status.observedGeneration = input.generation;
  if (input.previous?.observedRefresh !== undefined) status.observedRefresh = input.previous.observedRefresh;
  status.conditions = setCondition(
    input.previous?.conditions,
    {
      type: CONDITION_READY,
      status: 'False',
      reason: ReadyReason.InvalidSpec,
      message: input.errors.join('; ') || 'invalid spec',
      ...(input.generation !== undefined ? { observedGeneration: input.generation } : {}),
    },
    input.now,
  );
  status.images = [];
  return status;
}

/**
 * Whether `a` and `b` serialize to the same JSON once object keys are sorted and
 * undefined members dropped (a Date as metav1.Time). Compared in place: a full
 * pass compares hundreds of statuses of thousands of node entries, and copying
 * both sides to strings each time cost more than building them.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date) a = rfc3339(a);
  if (b instanceof Date) b = rfc3339(b);
  if (typeof a === 'number' && typeof b === 'number') return a === b || (!Number.isFinite(a) && !Number.isFinite(b));
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    // JSON writes an undefined element as null.
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i] ?? null, b[i] ?? null)) return false;
    return true;
  }
  if (!isObject(a) || !isObject(b)) return a === b;
  let defined = 0;
  for (const key in a) {
    if (!Object.hasOwn(a, key)) continue;
    const value = a[key];
    if (value === undefined) continue;
    defined++;
    const other = b[key];
    if (other === undefined || !Object.hasOwn(b, key) || !sameJson(value, other)) return false;
  }
  for (const key in b) if (Object.hasOwn(b, key) && b[key] !== undefined) defined--;
  return defined === 0;
}

/**
 * Whether writing `next` would change the stored status `old`. Key order and
 * undefined members do not count; list order does (the builder is deterministic).
 */
export function statusChanged(old: ImageCacheStatus | undefined | null, next: ImageCacheStatus | undefined | null): boolean {
  return !sameJson(old ?? {}, next ?? {});
}
