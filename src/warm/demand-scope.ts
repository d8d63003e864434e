/**
 * Which stored pods count as demand for warming. The controller sees pods the
 * apiserver accepted and has not bound yet; the same pods admission would mutate
 * are the ones whose images are worth warming, so the rules mirror admission's
 * scope. Pure: the pod and an in-memory view in, a reason out.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { MIRROR_POD, POD_SKIP, SYSTEM_NAMESPACES } from '../annotations.js';
import type { MutationContext } from '../admission/mutate-pod.js';
import { isObject } from '../json-shape.js';
import { PRE_PULL_LABEL } from './prepull-pod.js';

/** Why a stored pod is not demand; undefined when it is. */
export function demandSkipReason(pod: V1Pod, ctx: Pick<MutationContext, 'policy' | 'namespaceEnabled' | 'ownNamespace'>): string | undefined {
  if (!isObject(pod) || !isObject(pod.spec) || !isObject(pod.metadata)) return 'not a pod';
  const ns = pod.metadata.namespace;
  if (typeof ns !== 'string' || ns === '') return 'pod has no namespace';
  if (SYSTEM_NAMESPACES.includes(ns)) return `namespace ${ns} is a system namespace`;
  if (ns === ctx.ownNamespace) return `namespace ${ns} is the webhook's own namespace`;
  if (ctx.policy.excludesNamespace(ns)) return `namespace ${ns} is excluded by policy namespaces.exclude`;
  if (!ctx.namespaceEnabled(ns)) return `namespace ${ns} is not opted in`;
  if (typeof pod.spec.nodeName === 'string' && pod.spec.nodeName !== '') return 'pod is already bound to a node';
  const annotations = isObject(pod.metadata.annotations) ? pod.metadata.annotations : {};
  if (annotations[POD_SKIP] === 'true') return `pod is annotated ${POD_SKIP}`;
  if (annotations[MIRROR_POD] !== undefined) return 'pod is a mirror pod';
  // A tenant may label its own pod as a pre-pull pod; that earns it nothing here
  // either way, but the controller's own pods are never demand.
  if (isObject(pod.metadata.labels) && pod.metadata.labels[PRE_PULL_LABEL] !== undefined) return 'pod is labelled as a pre-pull pod';
  const owners = pod.metadata.ownerReferences;
  if (Array.isArray(owners) && owners.some((o) => o?.kind === 'DaemonSet')) return 'pod belongs to a DaemonSet';
  if (ctx.policy.policy.affinity.mode === 'off') return 'policy affinity.mode is off';
  if (ctx.policy.policy.warm.minNodes <= 0) return 'policy warm.minNodes is 0';
  return undefined;
}
