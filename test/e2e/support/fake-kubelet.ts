import {
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import type { NodeImage } from '../../support/objects.js';

/**
 * Plays the kubelet's part for pre-pull pods, since the local control plane has no
 * kubelet: it watches pods bound to nodes, "pulls" their main image (adds it to the
 * node's status.images, as containerd would report it), and marks the pod
 * Succeeded; images listed as unpullable get the ErrImagePull status a kubelet sets.
 */
export interface FakeKubelet {
  /** (image, node) pairs pulled so far, in order, with the pod's namespace and pull secret names. */
  pulls: Array<{ image: string; node: string; at: number; namespace: string; pullSecrets: string[] }>;
  /** Most pulls running at once, overall and per node. */
  maxConcurrent: number;
  maxConcurrentPerNode: number;
  stop(): void;
}

export interface FakeKubeletOptions {
  /** Only pods with this label are handled (default: the pre-pull label). */
  labelSelector?: string;
  /** How long a pull takes (ms). */
  pullMs?: number;
  /** Image references that fail with ErrImagePull. */
  unpullable?: Set<string>;
  /**
   * Image references pulled but never listed in node status, like a small image on
   * a node whose kubelet reports only its 50 largest.
   */
  unreported?: Set<string>;
  sizeBytes?: number;
  /** Pods this returns true for are never run (stay pending), like a node that is slow to start them. */
  hold?: (pod: V1Pod) => boolean;
}

export async function startFakeKubelet(kc: KubeConfig, options: FakeKubeletOptions = {}): Promise<FakeKubelet> {
  const core = kc.makeApiClient(CoreV1Api);
  const pullMs = options.pullMs ?? 300;
  const seen = new Set<string>();
  const running = new Map<string, number>();
  let runningTotal = 0;
  const state: FakeKubelet = { pulls: [], maxConcurrent: 0, maxConcurrentPerNode: 0, stop: () => undefined };
  let stopped = false;

  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  const debug = process.env['E2E_KUBELET_DEBUG'] ? (msg: string) => process.stderr.write(`[fake-kubelet ${new Date().toISOString()}] ${msg}\n`) : () => undefined;
  async function handle(pod: V1Pod): Promise<void> {
    debug(`event ${pod.metadata?.name} node=${pod.spec?.nodeName} phase=${pod.status?.phase}`);
    const uid = pod.metadata?.uid ?? '';
    const node = pod.spec?.nodeName;
    const main = pod.spec?.containers?.[0];
    if (!node || !main?.image || seen.has(uid) || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    if (options.hold?.(pod)) return;
    seen.add(uid);
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? '';
    runningTotal++;
    running.set(node, (running.get(node) ?? 0) + 1);
    state.maxConcurrent = Math.max(state.maxConcurrent, runningTotal);
    state.maxConcurrentPerNode = Math.max(state.maxConcurrentPerNode, running.get(node) ?? 0);
    try {
      await new Promise((r) => setTimeout(r, pullMs));
      if (stopped) return;
      if (options.unpullable?.has(main.image)) {
        await core.patchNamespacedPodStatus(
          {
            name,
            namespace,
            body: {
              status: {
                phase: 'Pending',
                containerStatuses: [
                  {
                    name: main.name,
                    image: main.image,
                    imageID: '',
                    ready: false,
                    restartCount: 0,
                    state: { waiting: { reason: 'ErrImagePull', message: `failed to pull image "${main.image}": not found` } },
                  },
                ],
              },
            },
          },
          mergePatch,
        );
        return;
      }
      if (!options.unreported?.has(main.image)) await addNodeImage(kc, node, { names: [main.image.includes('/') ? main.image : `docker.io/library/${main.image}`], sizeBytes: options.sizeBytes ?? 50_000_000 });
      const pullSecrets = (pod.spec?.imagePullSecrets ?? []).map((s) => s.name ?? '');
      state.pulls.push({ image: main.image, node, at: Date.now(), namespace, pullSecrets });
      await core.patchNamespacedPodStatus(
        {
          name,
          namespace,
          body: {
            status: {
              phase: 'Succeeded',
              containerStatuses: [
                {
                  name: main.name,
                  image: main.image,
                  imageID: `${main.image}@sha256:${'0'.repeat(64)}`,
                  ready: false,
                  restartCount: 0,
                  state: { terminated: { exitCode: 0, reason: 'Completed' } },
                },
              ],
            },
          },
        },
        mergePatch,
      );
      debug(`done ${name}`);
    } catch (err) {
      debug(`error ${name}: ${String(err)}`);
      // The pod may have been deleted meanwhile; a real kubelet would shrug too.
    } finally {
      runningTotal--;
      running.set(node, (running.get(node) ?? 1) - 1);
    }
  }

  // A list+watch that re-lists and re-watches when the server ends the watch, as a
  // kubelet's does; errors restart it shortly after.
  const labelSelector = options.labelSelector ?? 'image-locality.dev/pre-pull=true';
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kc),
    () => core.listPodForAllNamespaces({ labelSelector }),
    false,
    labelSelector,
  );
  informer.on('add', (pod) => void handle(pod));
  informer.on('update', (pod) => void handle(pod));
  informer.on('error', (err: unknown) => {
    debug(`watch failed: ${String(err)}`);
    if (!stopped) setTimeout(() => void informer.start(), 200);
  });
  await informer.start();
  state.stop = () => {
    stopped = true;
    void informer.stop();
  };
  return state;
}

/** Serialize status writes per node: concurrent read-modify-write would lose images. */
const nodeLocks = new Map<string, Promise<void>>();

export async function addNodeImage(kc: KubeConfig, node: string, image: NodeImage): Promise<void> {
  const previous = nodeLocks.get(node) ?? Promise.resolve();
  const next = previous.then(async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const current = await core.readNodeStatus({ name: node });
    const images = [...(current.status?.images ?? [])];
    if (!images.some((i) => i.names?.some((n) => image.names.includes(n)))) images.push(image);
    await core.patchNodeStatus(
      { name: node, body: { status: { images } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  });
  nodeLocks.set(node, next.catch(() => undefined));
  return next;
}
