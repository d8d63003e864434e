/**
 * The part of a Node that decisions read. A node object in a real cluster is many
 * KB of JSON (managedFields, conditions, 50 images with two names each, addresses,
 * daemon endpoints, node info; `npm run bench:scale:memory` prints the size of its
 * realistic nodes); the index keeps this projection instead, and the object itself
 * is dropped as soon as it has been read.
 */
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { asArray, isObject } from '../json-shape.js';
import type { Interner } from './interner.js';
import type { Labels } from '../scheduling/node-selection.js';

/** Allocatable resources worth keeping: what a pod's requests are compared with. */
const KEPT_RESOURCES = ['cpu', 'memory', 'pods', 'ephemeral-storage'] as const;

export interface NodeProjection {
  name: string;
  labels: Labels;
  /** key, value and effect only (timeAdded is of no use to a decision). */
  taints: readonly V1Taint[];
  /** spec.unschedulable: cordoned. */
  unschedulable: boolean;
  /** The Ready condition is True. */
  ready: boolean;
  /** status.allocatable, as quantity strings, for the resources above. */
  allocatable: Readonly<Record<string, string>>;
}

/**
 * Project a node (untrusted JSON: any field may be missing or mistyped). Undefined
 * without a name. With an interner, label values and allocatable quantities, which
 * repeat across thousands of nodes (zone, instance type, pool), are held once.
 */
export function projectNode(node: V1Node, strings?: Interner): NodeProjection | undefined {
  const name = node?.metadata?.name;
  if (typeof name !== 'string' || name === '') return undefined;
  return {
    name,
    labels: stringRecord(node.metadata?.labels, strings),
    taints: asArray<V1Taint>(node.spec?.taints).flatMap((t) =>
      isObject(t) && typeof t.key === 'string' && typeof t.effect === 'string'
        ? [{ key: t.key, effect: t.effect, ...(typeof t.value === 'string' ? { value: t.value } : {}) }]
        : [],
    ),
    unschedulable: node.spec?.unschedulable === true,
    ready: asArray<{ type?: unknown; status?: unknown }>(node.status?.conditions).some((c) => c?.type === 'Ready' && c.status === 'True'),
    allocatable: keptResources(node.status?.allocatable, strings),
  };
}

function stringRecord(value: unknown, strings: Interner | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = strings ? strings.intern(v) : v;
  return out;
}

function keptResources(value: unknown, strings: Interner | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const name of KEPT_RESOURCES) {
    const v = value[name];
    if (typeof v === 'string') out[name] = strings ? strings.intern(v) : v;
  }
  return out;
}
