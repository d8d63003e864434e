// What the warming controller does, as the apiserver records it: every pre-pull
// pod it creates, when it finishes, when it is deleted. One watch, events in
// resourceVersion order, so "pulls in flight" is counted exactly at each change
// rather than sampled: a pod created while another is still unfinished shows up as
// two in flight, however short the overlap.
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

export interface PrePullRecord {
  uid: string;
  namespace: string;
  image: string;
  node: string;
  createdAt: number;
  /** When the pod was first seen finished: Succeeded, Failed, or its image unpullable. */
  finishedAt?: number;
  deletedAt?: number;
}

export interface PrePullTracker {
  /** Every pre-pull pod seen, in the order the apiserver reported them. */
  readonly records: PrePullRecord[];
  /** Most pulls in flight at once since the last reset, overall and on any one node. */
  peak(): { total: number; perNode: number };
  /** Start a new measurement window: peaks restart from what is in flight now. */
  reset(): void;
  stop(): void;
}

const PULL_CONTAINER = 'pull';
const UNPULLABLE = /^(ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull)$/;

function finished(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return true;
  return (pod.status?.containerStatuses ?? []).some((c) => UNPULLABLE.test(c.state?.waiting?.reason ?? ''));
}

export async function trackPrePulls(kc: KubeConfig, labelSelector = 'image-locality.dev/pre-pull=true'): Promise<PrePullTracker> {
  const core = kc.makeApiClient(CoreV1Api);
  const records: PrePullRecord[] = [];
  const byUid = new Map<string, PrePullRecord>();
  const inFlight = new Map<string, PrePullRecord>();
  const perNode = new Map<string, number>();
  let peakTotal = 0;
  let peakPerNode = 0;

  const settle = (pod: V1Pod, deleted: boolean): void => {
    const uid = pod.metadata?.uid ?? '';
    let record = byUid.get(uid);
    if (!record) {
      const pull = pod.spec?.containers?.find((c) => c.name === PULL_CONTAINER) ?? pod.spec?.containers?.[0];
      record = {
        uid,
        namespace: pod.metadata?.namespace ?? '',
        image: pull?.image ?? '',
        node: pod.spec?.nodeName ?? '',
        createdAt: Date.now(),
      };
      byUid.set(uid, record);
      records.push(record);
      if (!deleted && !finished(pod)) {
        inFlight.set(uid, record);
        const onNode = (perNode.get(record.node) ?? 0) + 1;
        perNode.set(record.node, onNode);
        peakTotal = Math.max(peakTotal, inFlight.size);
        peakPerNode = Math.max(peakPerNode, onNode);
      }
    }
    if ((deleted || finished(pod)) && inFlight.delete(uid)) {
      record.finishedAt ??= Date.now();
      perNode.set(record.node, (perNode.get(record.node) ?? 1) - 1);
    }
    if (deleted) record.deletedAt ??= Date.now();
  };

  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kc),
    () => core.listPodForAllNamespaces({ labelSelector }),
    false,
    labelSelector,
  );
  let stopped = false;
  informer.on('add', (pod) => settle(pod, false));
  informer.on('update', (pod) => settle(pod, false));
  informer.on('delete', (pod) => settle(pod, true));
  informer.on('error', () => {
    if (!stopped) setTimeout(() => void informer.start(), 200);
  });
  await informer.start();
  return {
    records,
    peak: () => ({ total: peakTotal, perNode: peakPerNode }),
    reset: () => {
      peakTotal = inFlight.size;
      peakPerNode = Math.max(0, ...perNode.values());
    },
    stop: () => {
      stopped = true;
      void informer.stop();
    },
  };
}
