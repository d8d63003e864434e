/**
 * The admission decision: (pod, cluster view, policy) -> skip, unchanged, or a
 * JSON Patch that steers the pod toward nodes holding its images. Pure: the same
 * inputs give the same answer, and nothing here touches the network.
 *
 * Work is bounded for any pod the apiserver accepts (3 MiB): images and terms are
 * de-duplicated through hashed sets, node judging runs on a work budget, and the
 * pod grows by at most MAX_POD_GROWTH_BYTES.
 */
import { MIRROR_POD, POD_INJECTED, POD_SKIP, SYSTEM_NAMESPACES } from '../annotations.js';
import type { ImageLocalityView } from '../cluster/image-index.js';
import type { V1NodeSelectorTerm } from '@kubernetes/client-node';
import { isObject } from '../json-shape.js';
import type { CompiledPolicy } from '../policy/policy.js';
import { deepFreeze } from '../policy/schema.js';
import { compilePlacement, DEFAULT_WORK_BUDGET, WorkMeter, type NodeFilter } from '../scheduling/node-selection.js';
import {
  hasOwnRequired,
  nameRequirementBytes,
  preferredTerm,
  preferredTermBytes,
  requiredNameTermBytes,
  readRecord,
  recognizePreferred,
  recordEntryBytes,
  recordText,
  requiredNameTerm,
  requiredTermWithNode,
  type InjectionRecord,
} from './injection.js';
import { injectionPatch } from './injection-patch.js';
import { PatchBuildError, type PatchOperation } from './json-patch.js';
import { MUTATED, SKIP, UNCHANGED, type MutatedCode, type SkipCode, type UnchangedCode } from './reasons.js';
import { collectPodImages, MAX_POD_IMAGES, rankNodes, weightFor, type Ranking, type ScoredNode } from './scoring.js';
import { shortlistForPod, shortlistRequirement, shortlistTerms } from './shortlist.js';
import { invalidImageWarnings } from './warnings.js';

export { MUTATED, SKIP, UNCHANGED } from './reasons.js';

/**
 * The most one admission adds to a pod, in JSON bytes: injected terms plus the
 * record. Node names come from the cluster (at most 253 characters each), so this
 * caps the node list, and in required mode decides the fall-back to preferences.
 */
export const MAX_POD_GROWTH_BYTES = 64 * 1024;
/** Room kept for the parents and keys a patch may have to create. */
const STRUCTURE_BYTES = 512;

/** Everything the decision depends on besides the pod: all in memory, nothing on the network. */
export interface MutationContext {
  view: ImageLocalityView;
  policy: CompiledPolicy;
  namespaceEnabled(namespace: string): boolean;
  ownNamespace: string;
  /** Work units for judging nodes (default DEFAULT_WORK_BUDGET). */
  workBudget?: number;
  /** Shortlist mode: owners whose shortlisted pods were released lately get preferences only. */
  releasedOwner?(uid: string): boolean;
}

export interface MutationInput {
  operation: string;
  namespace: string;
  kind: unknown;
  subResource?: unknown;
  pod: unknown;
}

export type Decision =
  | { outcome: 'skipped'; code: SkipCode; reason: string }
  | { outcome: 'unchanged'; code: UnchangedCode; reason: string; warnings: string[] }
  | { outcome: 'mutated'; code: MutatedCode; reason: string; warnings: string[]; patch: PatchOperation[]; record: InjectionRecord | null };

type Json = Record<string, unknown>;

function skip(code: SkipCode, reason: string): Decision {
  return { outcome: 'skipped', code, reason };
}

function isPodKind(kind: unknown): boolean {
  return isObject(kind) && kind['kind'] === 'Pod' && kind['group'] === '' && kind['version'] === 'v1';
}

/** Pods this webhook must leave alone, and why; undefined when the pod is in scope. */
function skipReason(input: MutationInput, pod: unknown, ctx: MutationContext): Decision | undefined {
  if (input.operation !== 'CREATE') return skip(SKIP.NOT_CREATE, `operation ${String(input.operation).slice(0, 40)} is not CREATE`);
  if (!isPodKind(input.kind)) return skip(SKIP.NOT_POD, 'request.kind is not core/v1 Pod');
  if (input.subResource !== undefined && input.subResource !== null && input.subResource !== '') {
    return skip(SKIP.SUBRESOURCE, 'request is for a subresource, not a Pod');
  }
  if (!isObject(pod) || !isObject(pod['spec'])) return skip(SKIP.NO_POD_SPEC, 'request carries no pod spec');
  const ns = input.namespace;
  if (SYSTEM_NAMESPACES.includes(ns)) return skip(SKIP.SYSTEM_NAMESPACE, `namespace ${ns} is a system namespace`);
  if (ns === ctx.ownNamespace) return skip(SKIP.OWN_NAMESPACE, `namespace ${ns} is the webhook's own namespace`);
  if (ctx.policy.excludesNamespace(ns)) return skip(SKIP.EXCLUDED_NAMESPACE, `namespace ${ns} is excluded by policy namespaces.exclude`);
  if (!ctx.namespaceEnabled(ns)) return skip(SKIP.NOT_OPTED_IN, `namespace ${ns} is not opted in`);
  const metadata = pod['metadata'];
  if (metadata !== undefined && metadata !== null && !isObject(metadata)) return skip(SKIP.MALFORMED_ANNOTATIONS, 'metadata is not an object');
  const annotations = isObject(metadata) ? metadata['annotations'] : undefined;
  if (annotations !== undefined && annotations !== null && !isObject(annotations)) {
    return skip(SKIP.MALFORMED_ANNOTATIONS, 'metadata.annotations is not an object');
  }
  const a = isObject(annotations) ? annotations : {};
  if (a[POD_SKIP] === 'true') return skip(SKIP.POD_OPTED_OUT, `pod is annotated ${POD_SKIP}`);
  if (a[MIRROR_POD] !== undefined) return skip(SKIP.MIRROR_POD, 'pod is a mirror pod');
  const spec = pod['spec'];
  if (typeof spec['nodeName'] === 'string' && spec['nodeName'] !== '') return skip(SKIP.BOUND, 'pod is already bound to a node');
  const owners = isObject(metadata) ? metadata['ownerReferences'] : undefined;
  if (Array.isArray(owners) && owners.some((o) => isObject(o) && o['kind'] === 'DaemonSet')) return skip(SKIP.DAEMONSET, 'pod belongs to a DaemonSet');
  if (ctx.policy.policy.affinity.mode === 'off') return skip(SKIP.AFFINITY_OFF, 'policy affinity.mode is off');
  return undefined;
}

interface AffinityParts {
  preferred: unknown[] | null;
  required: unknown[] | null;
}

/** Absent or null is fine; any other non-object (or non-list) is a shape the apiserver will reject. */
function optional(value: unknown, want: 'object' | 'array'): boolean {
  if (value === undefined || value === null) return true;
  return want === 'array' ? Array.isArray(value) : isObject(value);
}

function affinityParts(spec: Json): AffinityParts | string {
  const affinity = spec['affinity'];
  if (!optional(affinity, 'object')) return 'spec.affinity is not an object';
  const nodeAffinity = isObject(affinity) ? affinity['nodeAffinity'] : undefined;
  if (!optional(nodeAffinity, 'object')) return 'spec.affinity.nodeAffinity is not an object';
  const na = isObject(nodeAffinity) ? nodeAffinity : {};
  const preferred = na['preferredDuringSchedulingIgnoredDuringExecution'];
  if (!optional(preferred, 'array')) return 'preferredDuringSchedulingIgnoredDuringExecution is not a list';
  const required = na['requiredDuringSchedulingIgnoredDuringExecution'];
  if (!optional(required, 'object')) return 'requiredDuringSchedulingIgnoredDuringExecution is not an object';
  const terms = isObject(required) ? required['nodeSelectorTerms'] : undefined;
  if (!optional(terms, 'array')) return 'nodeSelectorTerms is not a list';
  return {
    preferred: Array.isArray(preferred) ? preferred : null,
    required: Array.isArray(terms) && terms.length > 0 ? terms : null,
  };
}

/** A term that names its nodes by `metadata.name In`: DaemonSet-style pinning. */
function namesItsNodes(term: unknown): boolean {
  if (!isObject(term) || !Array.isArray(term['matchFields'])) return false;
  return term['matchFields'].some((f) => isObject(f) && f['key'] === 'metadata.name' && f['operator'] === 'In');
}

/** The nodes to name, cut so that terms plus record stay within the growth budget. */
function withinGrowthBudget(ranked: readonly ScoredNode[], termBytes: (name: string) => number, alreadyUsed = 0): ScoredNode[] {
  let used = alreadyUsed + STRUCTURE_BYTES + JSON.stringify(JSON.stringify({ v: 2, mode: 'preferred', nodes: [] })).length + POD_INJECTED.length;
  const out: ScoredNode[] = [];
  for (const node of ranked) {
    used += termBytes(node.name) + recordEntryBytes(node.name);
    if (used > MAX_POD_GROWTH_BYTES) break;
    out.push(node);
  }
  return out;
}

/**
 * Required mode: each distinct user term ANDed with each chosen node it allows
 * (or, without user terms, one term per node). Undefined when that would not fit
 * the growth or work budget: the caller then falls back to preferences, which
 * never multiply the user's terms.
 */
function requiredTerms(filter: NodeFilter, nodes: readonly ScoredNode[], meter: WorkMeter): { terms: unknown[]; nodes: ScoredNode[] } | undefined {
  if (filter.terms.unconstrained) return { terms: nodes.map((n) => requiredNameTerm(n.name)), nodes: [...nodes] };
  const terms: unknown[] = [];
  const used = new Set<ScoredNode>();
  let bytes = STRUCTURE_BYTES;
  for (const term of filter.terms.list) {
    for (const scored of nodes) {
      if (!filter.terms.matchesTerm(term, scored.name, scored.node.labels, meter)) continue;
      const names = term.nameRule?.allowed;
      const alreadyNamesIt = names !== undefined && names.size === 1 && names.has(scored.name);
      bytes += term.text.length + nameRequirementBytes(scored.name) + (used.has(scored) ? 0 : recordEntryBytes(scored.name)) + 1;
      if (bytes > MAX_POD_GROWTH_BYTES) return undefined;
      used.add(scored);
      terms.push(requiredTermWithNode(term.raw, scored.name, alreadyNamesIt));
    }
    if (meter.exhausted) return undefined;
  }
  return terms.length > 0 ? { terms, nodes: nodes.filter((n) => used.has(n)) } : undefined;
}

/**
 * Preferred terms and record for a ranking, made once per ranking: rankings are
 * cached per workload (ranking-cache.ts), so the replicas of a workload share
 * these too and the work per pod does not grow with the number of nodes named.
 * Frozen, since every pod admitted with this ranking shares them.
 */
const preferredInjections = new WeakMap<Ranking, { maxWeight: number; record: InjectionRecord; terms: unknown[] }>();
const recordTexts = new WeakMap<InjectionRecord, string>();

function preferredInjection(ranking: Ranking, maxWeight: number): { record: InjectionRecord; terms: unknown[] } {
  const known = preferredInjections.get(ranking);
  if (known && known.maxWeight === maxWeight) return known;
  const nodes = withinGrowthBudget(ranking.ranked, preferredTermBytes);
  const record: InjectionRecord = { v: 2, mode: 'preferred', nodes: nodes.map((r) => [r.name, weightFor(r.score, maxWeight)]) };
  const made = { maxWeight, record: deepFreeze(record), terms: deepFreeze(record.nodes.map(([name, weight]) => preferredTerm(name, weight))) };
  preferredInjections.set(ranking, made);
  recordTexts.set(record, recordText(record));
  return made;
}

/** Why a shortlist was not made (NO_SHORTLIST), or the shortlist and what it adds. */
type ShortlistInjection = string | { terms: unknown[]; hostnames: string[]; fallbacks: number; preferred: ScoredNode[] };

/**
 * Shortlist mode: the holders plus fallbacks in one `kubernetes.io/hostname In`
 * expression ANDed into each distinct user term (one requirement per term, not one
 * term per node), and preferences toward the holders. Falls back when the
 * expression, repeated over the user's terms, would not fit the growth budget.
 */
function shortlistInjection(owners: unknown, ranking: Ranking, filter: NodeFilter, ctx: MutationContext): ShortlistInjection {
  const made = shortlistForPod(
    owners,
    { holders: ranking.ranked.map((r) => r.node), view: ctx.view, fits: (node) => filter.fits(node), size: ctx.policy.policy.affinity.shortlistSize },
    (uid) => ctx.releasedOwner?.(uid) ?? false,
  );
  if (!made.ok) return made.reason;
  // Terms the scheduler cannot parse match no node; ANDing into them would only re-shape garbage.
  const userTerms = filter.terms.unconstrained ? null : filter.terms.list.filter((t) => !t.never).map((t) => t.raw as V1NodeSelectorTerm);
  const requirementBytes = JSON.stringify(shortlistRequirement(made.hostnames)).length + 1;
  const listBytes = JSON.stringify(JSON.stringify(made.hostnames)).length;
  const fixed = STRUCTURE_BYTES + listBytes + requirementBytes * Math.max(1, userTerms?.length ?? 1);
  if (fixed > MAX_POD_GROWTH_BYTES / 2) return SHORTLIST_TOO_LARGE;
  const preferred = withinGrowthBudget(ranking.ranked, preferredTermBytes, fixed);
  return { terms: shortlistTerms(userTerms, made.hostnames), hostnames: made.hostnames, fallbacks: made.fallbacks, preferred };
}

/** Why a shortlist was not made although one was chosen. */
export const SHORTLIST_TOO_LARGE = "repeating the shortlist over the pod's own required terms would grow it too much";

/**
 * Decide what to do with one pod: which nodes to prefer (or require), and the JSON
 * Patch that says so.
 */
export function decidePodMutation(input: MutationInput, ctx: MutationContext): Decision {
  const pod = input.pod;
  const skipped = skipReason(input, pod, ctx);
  if (skipped) return skipped;
  const podObject = pod as Json;
  const spec = podObject['spec'] as Json;
  const parts = affinityParts(spec);
  if (typeof parts === 'string') return skip(SKIP.MALFORMED_AFFINITY, parts);

  const metadata = isObject(podObject['metadata']) ? podObject['metadata'] : {};
  const annotations = isObject(metadata['annotations']) ? metadata['annotations'] : {};
  const previousRecord = Object.hasOwn(annotations, POD_INJECTED) ? annotations[POD_INJECTED] : undefined;
  const previous = readRecord(previousRecord, ctx.policy.policy.affinity.maxNodes);

  // Required terms are never taken out again (that could loosen what someone else
  // required); if ours are already there, there is nothing more to require.
  if (hasOwnRequired(parts.required, previous)) {
    return { outcome: 'unchanged', code: UNCHANGED.ALREADY_REQUIRED, reason: 'pod already carries its required injection', warnings: [] };
  }
  // DaemonSet-style pods are pinned to named nodes by their own `metadata.name In`
  // terms. Only when every term names its nodes is there nothing to steer.
  if (parts.required && parts.required.every(namesItsNodes)) return skip(SKIP.PINNED, 'pod is pinned to named nodes by metadata.name');

  const mode = ctx.policy.policy.affinity.mode as 'preferred' | 'required' | 'shortlist';
  const images = collectPodImages(spec, ctx.policy);
  const warnings = invalidImageWarnings(images.invalid, images.invalidCount);
  if (images.tooMany) {
    return { outcome: 'unchanged', code: UNCHANGED.TOO_MANY_IMAGES, reason: `the pod lists more than ${MAX_POD_IMAGES} distinct images`, warnings };
  }
  const meter = new WorkMeter(ctx.workBudget ?? DEFAULT_WORK_BUDGET);
  const filter = compilePlacement({ nodeSelector: spec['nodeSelector'], requiredTerms: parts.required, tolerations: spec['tolerations'] }, meter);
  const stale = recognizePreferred(parts.preferred ?? [], previous);

  let unchanged: UnchangedCode | undefined;
  let mutated: MutatedCode = MUTATED.PREFERRED;
  let reason: string;
  let record: InjectionRecord | null = null;
  let newPreferred: unknown[] = [];
  let required: unknown[] | null = null;
  const constraints = { nodeSelector: spec['nodeSelector'], requiredTerms: parts.required, tolerations: spec['tolerations'] };
  const ranking = images.keys.length > 0 ? rankNodes(images.keys, ctx.view, constraints, ctx.policy, { filter, meter }) : undefined;
  if (meter.exhausted) {
    // Not every node could be judged in time: inject nothing rather than guess.
    return {
      outcome: 'unchanged',
      code: UNCHANGED.WORK_BUDGET_SPENT,
      reason: `the pod's placement constraints are too large to judge against ${ctx.view.nodeCount} nodes within the work budget`,
      warnings,
    };
  }
  if (!ranking) [unchanged, reason] = [UNCHANGED.NO_SELECTED_IMAGE, 'no image of the pod is selected by policy'];
  else if (ranking.noHolder) [unchanged, reason] = [UNCHANGED.NO_HOLDER, "no node holds any of the pod's images yet"];
  else if (ranking.ranked.length === 0) [unchanged, reason] = [UNCHANGED.NO_ELIGIBLE_HOLDER, "no eligible node holds enough of the pod's images"];
  else if (ranking.everyEligibleNodeHoldsAll) [unchanged, reason] = [UNCHANGED.ALL_ELIGIBLE_HOLD, "every eligible node already holds the pod's images"];
  else {
    const maxWeight = ctx.policy.policy.affinity.weight;
    const weighted = (nodes: readonly ScoredNode[]): Array<[string, number]> => nodes.map((r) => [r.name, weightFor(r.score, maxWeight)]);
    const shortlist = mode === 'shortlist' ? shortlistInjection(metadata['ownerReferences'], ranking, filter, ctx) : undefined;
    const pairs = mode === 'required' ? requiredTerms(filter, withinGrowthBudget(ranking.ranked, requiredNameTermBytes), meter) : undefined;
    if (shortlist && typeof shortlist !== 'string') {
      required = shortlist.terms;
      newPreferred = shortlist.preferred.map((r) => preferredTerm(r.name, weightFor(r.score, maxWeight)));
      record = { v: 2, mode: 'shortlist', nodes: weighted(shortlist.preferred), shortlist: shortlist.hostnames };
      [mutated, reason] = [
        MUTATED.SHORTLIST,
        `required one of ${shortlist.hostnames.length} node(s) (${shortlist.fallbacks} of them fallbacks), preferred the ${shortlist.preferred.length} holding the pod's images`,
      ];
    } else if (pairs) {
      required = pairs.terms;
      record = { v: 2, mode: 'required', nodes: weighted(pairs.nodes) };
      [mutated, reason] = [MUTATED.REQUIRED, `required one of ${pairs.nodes.length} node(s) holding the pod's images`];
    } else {
      const made = preferredInjection(ranking, maxWeight);
      record = made.record;
      newPreferred = made.terms;
      reason = `preferred ${made.record.nodes.length} node(s) holding the pod's images`;
      if (mode === 'required') {
        mutated = MUTATED.REQUIRED_FELL_BACK;
        reason += " (required mode fell back: no holder satisfies the pod's own required terms, or requiring would multiply them)";
      }
      if (typeof shortlist === 'string') {
        mutated = MUTATED.SHORTLIST_FELL_BACK;
        reason += ` (shortlist mode fell back: ${shortlist})`;
      }
    }
  }

  let patch: PatchOperation[];
  try {
    patch = injectionPatch(pod, {
      preferred: parts.preferred,
      stalePreferred: stale,
      newPreferred,
      required,
      userHasRequired: parts.required !== null,
      recordText: record ? (recordTexts.get(record) ?? recordText(record)) : undefined,
      previousRecord,
    });
  } catch (err) {
    if (err instanceof PatchBuildError) return skip(SKIP.UNPATCHABLE, err.message);
    throw err;
  }
  if (patch.length === 0) return { outcome: 'unchanged', code: unchanged ?? UNCHANGED.SAME_AS_BEFORE, reason, warnings };
  if (!record) [mutated, reason] = [MUTATED.CLEARED, `${reason}; removed the earlier injection`];
  return { outcome: 'mutated', code: mutated, reason, warnings, patch, record };
}
