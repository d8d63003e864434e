/**
 * The controller's side of shortlist mode's promise that no pod stays
 * unschedulable where the default scheduler would place it. Every interval it lists
 * the pods nobody has bound yet, finds those a shortlist stranded (stranded.ts),
 * marks their owners released in the ConfigMap every admission replica watches,
 * waits a moment for the replicas to see it, then deletes the pods (only the very
 * pod it judged, by uid) for their controllers to recreate. The recreated pods are
 * admitted with preferences only. Should a replica not have seen the mark yet, the
 * new pod is shortlisted again and released again one interval after it strands.
 */
import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { ApiClient } from '../cluster/api-client.js';
import type { ApiConnection } from '../cluster/api-connection.js';
import { coreCalls, type CoreCalls } from '../cluster/kube-calls.js';
import { log } from '../log.js';
import { releasesTotal } from './metrics.js';
import { RELEASED_CONFIGMAP_NAME, withReleasedOwners } from '../cluster/released-owners.js';
import { strandedPod, type StrandedPod } from './stranded.js';

export interface ReleaserOptions {
  /** The webhook's own namespace, where the released-owners ConfigMap lives. */
  namespace: string;
  /** How long a shortlisted pod may be unschedulable before it is released (policy affinity.releaseAfterSeconds). */
  afterSeconds: () => number;
  intervalMs?: number;
  /** Time given to admission replicas to see the released owners before the pods go. */
  settleMs?: number;
  now?: () => number;
}

export const DEFAULT_RELEASE_INTERVAL_MS = 5_000;
export const DEFAULT_RELEASE_SETTLE_MS = 2_000;
const PAGE = 500;

const logger = log.child({ component: 'shortlist-release' });

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export class ShortlistReleaser {
  private readonly core: CoreCalls;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly now: () => number;

  constructor(kc: ApiConnection, private readonly options: ReleaserOptions) {
    this.core = coreCalls(new ApiClient(kc));
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .catch((err: unknown) => logger.warn({ err }, 'shortlist release pass failed; retrying next interval'))
        .finally(() => (this.running = undefined));
    }, this.options.intervalMs ?? DEFAULT_RELEASE_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; resolves to the pods released. */
  async tick(): Promise<StrandedPod[]> {
    const afterMs = this.options.afterSeconds() * 1000;
    const stranded: StrandedPod[] = [];
    for (const pod of await this.unboundPods()) {
      const found = strandedPod(pod, this.now(), afterMs);
      if (found) stranded.push(found);
    }
    if (stranded.length === 0) return [];
    await this.markReleased([...new Set(stranded.map((s) => s.owner.uid))]);
    await new Promise((r) => setTimeout(r, this.options.settleMs ?? DEFAULT_RELEASE_SETTLE_MS));
    const released: StrandedPod[] = [];
    for (const pod of stranded) {
      try {
        await this.core.deleteNamespacedPod({ name: pod.name, namespace: pod.namespace, body: { preconditions: { uid: pod.uid } } });
        released.push(pod);
        releasesTotal.inc({ result: 'released' });
        logger.info(
          { pod: `${pod.namespace}/${pod.name}`, owner: `${pod.owner.kind}/${pod.owner.name}`, unschedulableForSeconds: Math.round((this.now() - pod.unschedulableSince) / 1000) },
          'released a pod its shortlist stranded: deleted for its owner to recreate without a shortlist',
        );
      } catch (err) {
        // Gone already, or replaced by a pod of the same name: nothing to release.
        if (statusCode(err) === 404 || statusCode(err) === 409) continue;
        releasesTotal.inc({ result: 'failed' });
        logger.warn({ err, pod: `${pod.namespace}/${pod.name}` }, 'could not release a stranded pod');
      }
    }
    return released;
  }

  private async unboundPods(): Promise<V1Pod[]> {
    const pods: V1Pod[] = [];
    let _continue: string | undefined;
    do {
      const page = await this.core.listPodForAllNamespaces({
        fieldSelector: 'spec.nodeName=,status.phase=Pending',
        limit: PAGE,
        ...(_continue ? { _continue } : {}),
      });
      pods.push(...page.items);
      _continue = page.metadata?._continue || undefined;
    } while (_continue);
    return pods;
  }

  /** Read-modify-write of the ConfigMap; a conflict (another writer) is retried on fresh data. */
  private async markReleased(uids: string[]): Promise<void> {
    const { namespace } = this.options;
    for (let attempt = 0; ; attempt++) {
      let current: V1ConfigMap | undefined;
      try {
        current = await this.core.readNamespacedConfigMap({ name: RELEASED_CONFIGMAP_NAME, namespace });
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
      const data = withReleasedOwners(current?.data, uids, this.now());
      try {
        if (current) await this.core.replaceNamespacedConfigMap({ name: RELEASED_CONFIGMAP_NAME, namespace, body: { ...current, data } });
        else await this.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: RELEASED_CONFIGMAP_NAME, namespace }, data } });
        return;
      } catch (err) {
        if (statusCode(err) !== 409 || attempt >= 3) throw err;
      }
    }
  }
}
