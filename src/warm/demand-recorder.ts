import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { AdmissionRequest } from '../admission/review.js';
import type { Decision } from '../admission/mutate-pod.js';
import type { ClusterState } from '../cluster/cluster-state.js';
import { log } from '../log.js';
import { DemandCoalescer, demandsOfPod, stableHash, type PendingDemand } from './demand.js';
import { targetsForDemand } from './demand-targets.js';
import { IMAGECACHE_API_VERSION, IMAGECACHE_GROUP, IMAGECACHE_KIND, IMAGECACHE_PLURAL, IMAGECACHE_VERSION } from './imagecache.js';
import { demandTotal } from './metrics.js';

export const DEMAND_SOURCE_LABEL = 'image-locality.dev/source';
export const DEMAND_SOURCE_VALUE = 'demand';

/** How long a recorded demand is not recorded again (the cache it created is doing the work). */
const RECORDED_TTL_MS = 10 * 60_000;

/**
 * Demand from admitted pods, on every replica. Admission only appends to an
 * in-memory coalescer (no I/O while the API server waits); a timer later checks
 * each coalesced entry against the cluster view and, when an image sits on fewer
 * eligible nodes than `warm.minNodes`, records the demand as an ImageCache in the
 * pod's namespace (named by a hash of image and constraints, so every replica and
 * every replica of a burst lands on the same object). The leader's controller
 * then warms it like any other cache.
 */
export class DemandRecorder {
  private readonly coalescer = new DemandCoalescer({ settleMs: 0 });
  private readonly recorded = new Map<string, number>();
  private readonly custom: CustomObjectsApi;
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;

  constructor(
    kc: KubeConfig,
    private readonly state: ClusterState,
    private readonly flushMs = 1000,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  /** Called after each admission decision that was not a dry run. */
  onAdmitted(request: AdmissionRequest, decision: Decision): void {
    if (decision.outcome === 'skipped') return;
    const policy = this.state.policy();
    if (policy.policy.warm.minNodes <= 0) return;
    const now = Date.now();
    for (const demand of demandsOfPod(request.object, request.namespace ?? '', (key) => policy.selectsImage(key))) {
      demandTotal.inc({ result: 'recorded' });
      this.coalescer.record(demand, now);
    }
  }

  start(): void {
    const tick = () => {
      void this.flush().finally(() => {
        this.timer = setTimeout(tick, this.flushMs);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, this.flushMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  async flush(now = Date.now()): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      const minNodes = this.state.policy().policy.warm.minNodes;
      for (const [name, at] of this.recorded) if (now - at > RECORDED_TTL_MS) this.recorded.delete(name);
      for (const demand of this.coalescer.drain(now)) {
        demandTotal.inc({ result: 'flushed' });
        if (minNodes <= 0) continue;
        if (targetsForDemand(demand, minNodes, this.state.index, new Set()).length === 0) continue;
        await this.record(demand, minNodes, now);
      }
    } catch (err) {
      log.warn({ component: 'warming', err }, 'recording demand failed');
    } finally {
      this.flushing = false;
    }
  }

  private async record(demand: PendingDemand, minNodes: number, now: number): Promise<void> {
    const name = `demand-${stableHash({ image: demand.imageKey, constraints: demand.constraints }, 16)}`;
    const key = `${demand.namespace}/${name}`;
    if (this.recorded.has(key)) return;
    this.recorded.set(key, now);
    const c = demand.constraints;
    const spec: Record<string, unknown> = { images: [demand.image], minNodes };
    if (c.nodeSelector && Object.keys(c.nodeSelector as object).length > 0) spec['nodeSelector'] = c.nodeSelector;
    if (Array.isArray(c.tolerations) && c.tolerations.length > 0) spec['tolerations'] = c.tolerations;
    if (Array.isArray(c.requiredTerms) && c.requiredTerms.length > 0) spec['nodeAffinity'] = { nodeSelectorTerms: c.requiredTerms };
    if (demand.pullSecrets.length > 0) spec['imagePullSecrets'] = demand.pullSecrets.map((n) => ({ name: n }));
    try {
      await this.custom.createNamespacedCustomObject({
        group: IMAGECACHE_GROUP,
        version: IMAGECACHE_VERSION,
        plural: IMAGECACHE_PLURAL,
        namespace: demand.namespace,
        body: {
          apiVersion: IMAGECACHE_API_VERSION,
          kind: IMAGECACHE_KIND,
          metadata: { name, namespace: demand.namespace, labels: { [DEMAND_SOURCE_LABEL]: DEMAND_SOURCE_VALUE } },
          spec,
        },
      });
      demandTotal.inc({ result: 'created' });
      log.info({ component: 'warming', cache: key, image: demand.imageKey, pods: demand.pods, minNodes }, 'recorded demand for a cold image');
    } catch (err) {
      if ((err as { code?: number }).code === 409) return;
      this.recorded.delete(key);
      demandTotal.inc({ result: 'dropped' });
      log.warn({ component: 'warming', cache: key, err: String((err as Error).message ?? err) }, 'could not record demand');
    }
  }
}
