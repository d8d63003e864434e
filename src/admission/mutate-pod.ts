import type { V1NodeAffinity, V1NodeSelectorTerm, V1Pod, V1PreferredSchedulingTerm } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { MIRROR_POD, POD_INJECTED, POD_SKIP, SYSTEM_NAMESPACES } from '../annotations.js';
import type { ImageLocalityView } from '../cluster/image-index.js';
import type { CompiledPolicy } from '../policy/policy.js';
import { deepFreeze } from '../policy/schema.js';
import { placementConstraintsOf } from '../scheduling/node-selection.js';
import {
  mergeInjection,
  preferredTermsFor,
  requiredPairs,
  requiredTermsFor,
  requiredTermsOf,
  stripInjection,
  type InjectionRecord,
} from './affinity.js';
import { PatchBuildError, removeValue, setValue, type PatchOperation } from './json-patch.js';
import { collectPodImages, rankNodes, weightFor, type Ranking } from './scoring.js';
import { shortlistForPod, shortlistTerms } from './shortlist.js';
import { isObject } from '../json-shape.js';

/** Everything the decision depends on besides the pod: all in memory, nothing on the network. */
export interface MutationContext {
  view: ImageLocalityView;
  policy: CompiledPolicy;
  namespaceEnabled(namespace: string): boolean;
  ownNamespace: string;
  /** Shortlist mode: owners whose shortlisted pods were released lately get preferences only. */
  releasedOwner?(uid: string): boolean;
}

export interface MutationInput {
  operation: string;
  namespace: string;
  kind: { group?: string; version?: string; kind?: string } | undefined;
  pod: unknown;
}

export type Decision =
  | { outcome: 'skipped'; reason: string }
  | { outcome: 'unchanged'; reason: string; warnings: string[] }
  | { outcome: 'mutated'; reason: string; warnings: string[]; patch: PatchOperation[]; record: InjectionRecord | null };

type Pod = Omit<V1Pod, 'metadata'> & {
  metadata?: Omit<NonNullable<V1Pod['metadata']>, 'annotations'> & { annotations?: Record<string, unknown> };
};

/** Pods this webhook must leave alone, and why; undefined when the pod is in scope. */
function skipReason(input: MutationInput, pod: Pod, ctx: MutationContext): string | undefined {
  if (input.operation !== 'CREATE') return `operation ${input.operation} is not CREATE`;
  if (input.kind && (input.kind.kind !== 'Pod' || (input.kind.group ?? '') !== '')) {
    return `kind ${input.kind.group ? input.kind.group + '/' : ''}${input.kind.kind} is not Pod`;
  }
  if (!isObject(pod) || !isObject(pod.spec)) return 'request carries no pod spec';
  const ns = input.namespace;
  if (SYSTEM_NAMESPACES.includes(ns)) return `namespace ${ns} is a system namespace`;
  if (ns === ctx.ownNamespace) return `namespace ${ns} is the webhook's own namespace`;
  if (ctx.policy.excludesNamespace(ns)) return `namespace ${ns} is excluded by policy namespaces.exclude`;
  if (!ctx.namespaceEnabled(ns)) return `namespace ${ns} is not opted in`;
  const annotations = isObject(pod.metadata?.annotations) ? pod.metadata.annotations : {};
  if (annotations[POD_SKIP] === 'true') return `pod is annotated ${POD_SKIP}`;
  if (annotations[MIRROR_POD] !== undefined) return 'pod is a mirror pod';
  if (typeof pod.spec.nodeName === 'string' && pod.spec.nodeName !== '') return 'pod is already bound to a node';
  const owners = pod.metadata?.ownerReferences;
  if (Array.isArray(owners) && owners.some((o) => o?.kind === 'DaemonSet')) return 'pod belongs to a DaemonSet';
  if (ctx.policy.policy.affinity.mode === 'off') return 'policy affinity.mode is off';
  return undefined;
}

function namesItsNodes(term: V1NodeSelectorTerm): boolean {
  return Array.isArray(term?.matchFields) && term.matchFields.some((f) => f?.key === 'metadata.name' && f.operator === 'In');
}

function readRecord(pod: Pod): InjectionRecord | undefined {
  const raw = pod.metadata?.annotations?.[POD_INJECTED];
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = JSON.parse(raw) as InjectionRecord;
    if (parsed?.v === 1 && Array.isArray(parsed.nodes)) return parsed;
  } catch {
    // A record we cannot read is treated as absent: we then only add, never remove.
  }
  return undefined;
}

/**
 * Decide what to do with one pod: which nodes to prefer (or require), and the JSON
 * Patch that says so. Pure: same pod, same view, same policy, same answer.
 */
export function decidePodMutation(input: MutationInput, ctx: MutationContext): Decision {
  const pod = input.pod as Pod;
  const skip = skipReason(input, pod, ctx);
  if (skip) return { outcome: 'skipped', reason: skip };
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const affinityMode = ctx.policy.policy.affinity.mode as 'preferred' | 'required' | 'shortlist';

  const current: V1NodeAffinity | undefined = isObject(spec.affinity?.nodeAffinity) ? spec.affinity.nodeAffinity : undefined;
  if (spec.affinity !== undefined && spec.affinity !== null && !isObject(spec.affinity)) {
    return { outcome: 'skipped', reason: 'spec.affinity is not an object' };
  }
  const previous = readRecord(pod);
  // On reinvocation, start from the pod as it was before our last injection.
  const base = previous ? stripInjection(current, previous) : current;
  const userRequired = requiredTermsOf(base);
  // DaemonSet-style pods are pinned to named nodes by their own `metadata.name In`
  // terms (checked after removing ours: in required mode we add such terms
  // ourselves). Only when every term names its nodes is there nothing to steer.
  if (userRequired && userRequired.length > 0 && userRequired.every(namesItsNodes)) {
    return { outcome: 'skipped', reason: 'pod is pinned to named nodes by metadata.name' };
  }

  const images = collectPodImages(spec, ctx.policy);
  const warnings = images.ignored
    .filter((i) => i.reason === 'not a valid image reference')
    .map((i) => `image-locality: image "${i.image}" is not a valid reference; it was not considered`);

  const constraints = { ...placementConstraintsOf(spec), requiredTerms: userRequired ?? undefined };
  const ranking = rankNodes(images.keys, ctx.view, constraints, ctx.policy);

  let reason: string;
  let desired: V1NodeAffinity | undefined = base;
  let record: InjectionRecord | null = null;
  if (images.keys.length === 0) reason = 'no image of the pod is selected by policy';
  else if (ranking.noHolder) reason = 'no node holds any of the pod\'s images yet';
  else if (ranking.ranked.length === 0) reason = 'no eligible node holds enough of the pod\'s images';
  else if (ranking.everyEligibleNodeHoldsAll) reason = 'every eligible node already holds the pod\'s images';
  else {
    const preferred = preferredInjection(ranking, ctx.policy.policy.affinity.weight);
    const nodes = preferred.record.nodes;
    const pairs = affinityMode === 'required' ? requiredPairs(userRequired, ranking.ranked.map((r) => r.node)) : [];
    const shortlist =
      affinityMode === 'shortlist'
        ? shortlistForPod(
            pod.metadata?.ownerReferences,
            { holders: ranking.ranked.map((r) => r.node), view: ctx.view, constraints, size: ctx.policy.policy.affinity.shortlistSize },
            (uid) => ctx.releasedOwner?.(uid) ?? false,
          )
        : undefined;
    if (shortlist?.ok) {
      record = { v: 1, mode: 'shortlist', nodes, userRequired, shortlist: shortlist.hostnames };
      desired = mergeInjection(base, { required: shortlistTerms(userRequired, shortlist.hostnames), preferred: preferredTermsFor(record) });
      reason = `required one of ${shortlist.hostnames.length} node(s) (${shortlist.fallbacks} of them fallbacks), preferred the ${nodes.length} holding the pod's images`;
    } else if (affinityMode === 'required' && pairs.length > 0) {
      record = { v: 1, mode: 'required', nodes, userRequired, pairs };
      desired = mergeInjection(base, { required: requiredTermsFor(userRequired, pairs) });
      reason = `required one of ${nodes.length} node(s) holding the pod's images`;
    } else {
      // Required mode falls back to preferences when no node satisfies the user's
      // own required terms: the pod must stay schedulable where the user allowed.
      record = preferred.record;
      desired = mergeInjection(base, { preferred: preferred.terms });
      reason = `preferred ${nodes.length} node(s) holding the pod's images`;
      if (affinityMode === 'required') reason += ' (required mode fell back: no holder satisfies the pod\'s own required terms)';
      if (shortlist && !shortlist.ok) reason += ` (shortlist mode fell back: ${shortlist.reason})`;
    }
  }

  try {
    const patch = patchFor(pod, current, desired, previous, record);
    if (patch.length === 0) return { outcome: 'unchanged', reason, warnings };
    return { outcome: 'mutated', reason, warnings, patch, record };
  } catch (err) {
    if (err instanceof PatchBuildError) return { outcome: 'skipped', reason: err.message };
    throw err;
  }
}

/**
 * Preferred terms and record for a ranking, made once per ranking: rankings are
 * cached per workload (ranking-cache.ts), so replicas share these too, and the work
 * per pod does not grow with the number of nodes named.
 */
const preferredInjections = new WeakMap<Ranking, { maxWeight: number; record: InjectionRecord; terms: V1PreferredSchedulingTerm[] }>();
const recordTexts = new WeakMap<InjectionRecord, string>();

function preferredInjection(ranking: Ranking, maxWeight: number): { record: InjectionRecord; terms: V1PreferredSchedulingTerm[] } {
  const known = preferredInjections.get(ranking);
  if (known && known.maxWeight === maxWeight) return known;
  const nodes: Array<[string, number]> = ranking.ranked.map((r) => [r.name, weightFor(r.score, maxWeight)]);
  const record: InjectionRecord = { v: 1, mode: 'preferred', nodes };
  // Frozen: every pod admitted with this ranking shares these objects.
  const made = { maxWeight, record: deepFreeze(record), terms: deepFreeze(preferredTermsFor(record)) };
  preferredInjections.set(ranking, made);
  recordTexts.set(record, JSON.stringify(record));
  return made;
}

function patchFor(
  pod: Pod,
  current: V1NodeAffinity | undefined,
  desired: V1NodeAffinity | undefined,
  previous: InjectionRecord | undefined,
  record: InjectionRecord | null,
): PatchOperation[] {
  const ops: PatchOperation[] = [];
  if (!isDeepStrictEqual(current, desired)) {
    if (desired === undefined) ops.push(...removeValue(pod, ['spec', 'affinity', 'nodeAffinity']));
    else ops.push(...setValue(pod, ['spec', 'affinity', 'nodeAffinity'], desired));
  }
  const recordText = record ? (recordTexts.get(record) ?? JSON.stringify(record)) : undefined;
  const previousText = pod.metadata?.annotations?.[POD_INJECTED];
  if (recordText !== undefined && recordText !== previousText) {
    ops.push(...setValue(pod, ['metadata', 'annotations', POD_INJECTED], recordText));
  } else if (recordText === undefined && previousText !== undefined && previous) {
    ops.push(...removeValue(pod, ['metadata', 'annotations', POD_INJECTED]));
  }
  return ops;
}

export type { V1NodeSelectorTerm };
