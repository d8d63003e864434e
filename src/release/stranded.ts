/**
 * Which pods a shortlist stranded: the one case where shortlist mode could leave a
 * pod unschedulable that the default scheduler would place (every named node full,
 * deleted or cordoned; a node autoscaler adds no node a shortlist names). Such a pod
 * is released: deleted, so that its controller recreates it, with its owner marked
 * so the new pod gets preferences only (src/cluster/released-owners.ts). Pure.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { POD_INJECTED } from '../annotations.js';
import { shortlistOwner, type OwnerRef } from '../admission/shortlist.js';

export interface StrandedPod {
  namespace: string;
  name: string;
  uid: string;
  owner: OwnerRef;
  /** When the scheduler first said it cannot place the pod. */
  unschedulableSince: number;
}

function carriesShortlist(pod: V1Pod): boolean {
  const raw = pod.metadata?.annotations?.[POD_INJECTED];
  if (typeof raw !== 'string') return false;
  try {
    const record = JSON.parse(raw) as { mode?: unknown; shortlist?: unknown };
    return record?.mode === 'shortlist' && Array.isArray(record.shortlist);
  } catch {
    return false;
  }
}

/**
 * The pod when it is stranded: shortlisted by this webhook, owned by a controller
 * that recreates it, not bound, not gated, not being deleted, and reported
 * Unschedulable by the scheduler for at least `afterMs`.
 */
export function strandedPod(pod: V1Pod, now: number, afterMs: number): StrandedPod | undefined {
  const { metadata, spec, status } = pod;
  if (!metadata?.name || !metadata.namespace || !metadata.uid || metadata.deletionTimestamp) return undefined;
  if (spec?.nodeName || (spec?.schedulingGates?.length ?? 0) > 0) return undefined;
  if (!carriesShortlist(pod)) return undefined;
  const owner = shortlistOwner(metadata.ownerReferences);
  if (!owner) return undefined;
  const scheduled = status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') return undefined;
  const since = scheduled.lastTransitionTime ? new Date(scheduled.lastTransitionTime as unknown as string).getTime() : NaN;
  if (!Number.isFinite(since) || now - since < afterMs) return undefined;
  return { namespace: metadata.namespace, name: metadata.name, uid: metadata.uid, owner, unschedulableSince: since };
}
