/**
 * Shortlist placement: the policy mode for large clusters run by the default
 * kube-scheduler.
 *
 * Why preferences alone fade with size: with the default percentageOfNodesToScore
 * the scheduler stops filtering once it has found max(100, N x max(5, 50 - N/125)%)
 * feasible nodes (500 of 5,000), starting at a rotating index, and scores only
 * those; preferred terms toward three holders are never looked at for most pods.
 * If a pod is feasible on fewer nodes than that, the scheduler filters every node,
 * finds them all and scores them all. So the shortlist names the holders plus enough
 * other eligible nodes (at most 100, the scheduler's floor, so every size scores it
 * whole) in one `kubernetes.io/hostname In [...]` expression ANDed into each of the
 * user's own required terms, and prefers the holders: the pod lands on a holder when
 * one has room, on a fallback when the holders are full, drained or gone.
 *
 * A label expression adds one requirement per user term; naming nodes with
 * `matchFields` would take one term per node (the apiserver allows one value there),
 * multiplied by the user's terms. Nodes are named by their hostname label, so a
 * node without one cannot be named: a holder without it turns the shortlist off for
 * that pod; a fallback without it is passed over.
 *
 * What a shortlist cannot do by itself: a pod whose every named node is full, or
 * gone, stays Pending, and a node autoscaler adds no node that matches it. Such a
 * pod must be deleted for its controller to recreate it without a shortlist, which
 * is why only pods a controller recreates are shortlisted (see shortlistOwner).
 *
 * Pure and bounded: the work per decision is the holders plus at most
 * MAX_WALK_FACTOR x shortlistSize node checks, whatever the cluster's size.
 */
import type { V1NodeSelectorRequirement, V1NodeSelectorTerm } from '@kubernetes/client-node';
import type { ImageLocalityView, IndexedNode } from '../cluster/image-index.js';

export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/** Owners that replace a deleted pod of theirs without counting it as a failure. */
export const SHORTLIST_OWNER_KINDS: readonly string[] = ['ReplicaSet', 'StatefulSet'];

/** How far past the needed count the fallback walk may look before giving up (sparse eligibility). */
export const MAX_WALK_FACTOR = 20;

/** Why a pod gets preferences instead of a shortlist; tests compare these. */
export const NO_SHORTLIST = {
  notOwned: 'the pod has no ReplicaSet or StatefulSet controller to recreate it if it were released',
  released: "the pod's owner was released from a shortlist recently",
  holderUnnamed: `a node holding the images has no ${HOSTNAME_LABEL} label`,
  fewEligible: 'few enough nodes are eligible that the scheduler scores them all',
  sparse: 'eligible nodes are too sparse to find fallbacks within bounded work',
} as const;

export interface OwnerRef {
  kind: string;
  name: string;
  uid: string;
}

/** The pod's controller, when it is one that recreates deleted pods; otherwise undefined. */
export function shortlistOwner(ownerReferences: unknown): OwnerRef | undefined {
  if (!Array.isArray(ownerReferences)) return undefined;
  for (const ref of ownerReferences as Array<Record<string, unknown> | null>) {
    if (!ref || ref['controller'] !== true) continue;
    const { kind, name, uid } = ref;
    if (typeof kind !== 'string' || typeof name !== 'string' || typeof uid !== 'string' || uid === '') return undefined;
    return SHORTLIST_OWNER_KINDS.includes(kind) ? { kind, name, uid } : undefined;
  }
  return undefined;
}

export interface ShortlistRequest {
  /** Eligible, schedulable holders, best first (the ranking). */
  holders: readonly IndexedNode[];
  view: ImageLocalityView;
  /** The pod's placement constraints, compiled (and bounded by the decision's work budget). */
  fits(node: IndexedNode): boolean;
  /** Nodes to name in total (policy affinity.shortlistSize); holders beyond it are still all named. */
  size: number;
  /** Spreads different owners over different fallbacks (the owner's uid). */
  seed: string;
}

export type Shortlist =
  | { ok: true; /** Hostname label values to require, holders first. */ hostnames: string[]; fallbacks: number }
  | { ok: false; reason: string };

/** FNV-1a: a stable, cheap spread of seeds over start positions. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function chooseShortlist(req: ShortlistRequest): Shortlist {
  const hostnames: string[] = [];
  const named = new Set<string>();
  for (const holder of req.holders) {
    const hostname = holder.labels[HOSTNAME_LABEL];
    if (typeof hostname !== 'string' || hostname === '') return { ok: false, reason: NO_SHORTLIST.holderUnnamed };
    if (!named.has(hostname)) hostnames.push(hostname);
    named.add(hostname);
  }
  const wanted = Math.max(0, req.size - hostnames.length);
  const order = req.view.idsByName();
  const total = order.length;
  // Walk the nodes in name order from a start that depends on the owner, so that
  // one owner's pods share fallbacks (stable across reinvocation) and different
  // owners spread over the cluster.
  const start = total === 0 ? 0 : hash(req.seed) % total;
  const limit = Math.min(total, wanted * MAX_WALK_FACTOR);
  let fallbacks = 0;
  let walked = 0;
  for (; walked < limit && fallbacks < wanted; walked++) {
    const node = req.view.nodeById(order[(start + walked) % total] as number);
    if (!node || !node.schedulable) continue;
    const hostname = node.labels[HOSTNAME_LABEL];
    if (typeof hostname !== 'string' || hostname === '' || named.has(hostname)) continue;
    if (!req.fits(node)) continue;
    named.add(hostname);
    hostnames.push(hostname);
    fallbacks++;
  }
  if (fallbacks < wanted) {
    // Every node was looked at and too few are eligible: the scheduler then filters
    // all nodes for this pod anyway and scores every feasible one, so preferences
    // reach the holders without narrowing anything.
    return { ok: false, reason: walked >= total ? NO_SHORTLIST.fewEligible : NO_SHORTLIST.sparse };
  }
  return { ok: true, hostnames, fallbacks };
}

export function shortlistRequirement(hostnames: readonly string[]): V1NodeSelectorRequirement {
  return { key: HOSTNAME_LABEL, operator: 'In', values: [...hostnames] };
}

/**
 * The user's required terms with the shortlist ANDed into each one (terms are ORed,
 * requirements within a term ANDed), or one term holding only the shortlist when the
 * user has none. The user's own requirements stay exactly as they were.
 */
export function shortlistTerms(userTerms: readonly V1NodeSelectorTerm[] | null, hostnames: readonly string[]): V1NodeSelectorTerm[] {
  const requirement = shortlistRequirement(hostnames);
  if (!userTerms || userTerms.length === 0) return [{ matchExpressions: [requirement] }];
  return userTerms.map((term) => ({ ...term, matchExpressions: [...(term.matchExpressions ?? []), requirement] }));
}

/**
 * Whether this pod gets a shortlist, and which: only pods whose controller would
 * recreate them if released, never for an owner released recently (its pods could
 * not fit any shortlist then), and only when the holders can be named.
 */
export function shortlistForPod(
  ownerReferences: unknown,
  request: Omit<ShortlistRequest, 'seed'>,
  releasedOwner: (uid: string) => boolean,
): Shortlist {
  const owner = shortlistOwner(ownerReferences);
  if (!owner) return { ok: false, reason: NO_SHORTLIST.notOwned };
  if (releasedOwner(owner.uid)) return { ok: false, reason: NO_SHORTLIST.released };
  return chooseShortlist({ ...request, seed: owner.uid });
}
