import type { V1Namespace } from '@kubernetes/client-node';
import { NAMESPACE_ENABLED } from '../annotations.js';
import type { MutationContext } from '../admission/mutate-pod.js';
import { log } from '../log.js';
import {
  defaultCompiledPolicy,
  describePolicyErrors,
  type CompiledPolicy,
  type PolicyResult,
} from '../policy/policy.js';
import { indexImages, indexNodes, policyReloadsTotal } from '../server/metrics.js';
import { ImageIndex } from './image-index.js';
import { parseReleasedOwners } from './released-owners.js';

/**
 * Everything admission reads, in memory: the image index, which namespaces opted in,
 * and the policy in force. Informers (online) or a snapshot file (offline) fill it.
 */
export class ClusterState {
  readonly index = new ImageIndex();
  private readonly enabledNamespaces = new Set<string>();
  private currentPolicy: CompiledPolicy = defaultCompiledPolicy();
  /** Owner uid -> until (ms): shortlist mode gives these owners' pods preferences only. */
  private releasedOwners = new Map<string, number>();

  constructor(readonly ownNamespace: string) {}

  upsertNamespace(namespace: V1Namespace): void {
    const name = namespace.metadata?.name;
    if (typeof name !== 'string') return;
    if (namespace.metadata?.annotations?.[NAMESPACE_ENABLED] === 'true') this.enabledNamespaces.add(name);
    else this.enabledNamespaces.delete(name);
  }

  removeNamespace(name: string): void {
    this.enabledNamespaces.delete(name);
  }

  namespaceEnabled(name: string): boolean {
    return this.enabledNamespaces.has(name);
  }

  policy(): CompiledPolicy {
    return this.currentPolicy;
  }

  /**
   * Apply a newly read policy. An invalid one never replaces a good one: the last
   * good policy stays in force, and the problem is logged and counted.
   */
  applyPolicy(result: PolicyResult, source: string): boolean {
    if (!result.ok) {
      policyReloadsTotal.inc({ result: 'invalid' });
      log.error(
        { source, errors: result.errors, kept: this.currentPolicy.source },
        `invalid policy ignored, keeping the last good one: ${describePolicyErrors(result.errors)}`,
      );
      return false;
    }
    this.currentPolicy = result.policy;
    policyReloadsTotal.inc({ result: 'applied' });
    log.info({ source: result.policy.source }, 'policy applied');
    return true;
  }

  /** The policy ConfigMap was deleted: defaults apply again. */
  resetPolicy(): void {
    this.currentPolicy = defaultCompiledPolicy();
    log.info({ source: 'defaults' }, 'policy ConfigMap removed; defaults apply');
  }

  /** The released-owners ConfigMap's data changed (undefined: it was deleted). */
  setReleasedOwners(data: unknown): void {
    this.releasedOwners = parseReleasedOwners(data, Date.now());
  }

  releasedOwner(uid: string): boolean {
    const until = this.releasedOwners.get(uid);
    return until !== undefined && until > Date.now();
  }

  updateGauges(): void {
    indexImages.set(this.index.imageCount);
    indexNodes.set(this.index.nodeCount);
  }

  mutationContext(): MutationContext {
    return {
      view: this.index,
      policy: this.currentPolicy,
      namespaceEnabled: (ns) => this.enabledNamespaces.has(ns),
      ownNamespace: this.ownNamespace,
      releasedOwner: (uid) => this.releasedOwner(uid),
    };
  }
}
