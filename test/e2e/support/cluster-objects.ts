import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { makeNode, type NodeImage, type NodeSpecInput } from '../../support/objects.js';

/**
 * Nodes and namespaces on a real API server. There is no kubelet: a Node is an API
 * object whose status (images, Ready, allocatable) these helpers write through the
 * status subresource, as a kubelet would.
 */

export async function createNode(kc: KubeConfig, input: NodeSpecInput): Promise<V1Node> {
  const core = kc.makeApiClient(CoreV1Api);
  const node = makeNode(input);
  const created = await core.createNode({ body: { ...node, status: undefined } as V1Node });
  // Status sent with create is dropped by the API server; the subresource sets it.
  return core.replaceNodeStatus({
    name: input.name,
    body: { ...created, status: node.status } as V1Node,
  });
}

/** Replace a node's reported images, as the kubelet does after a pull or a GC. */
export async function setNodeImages(kc: KubeConfig, name: string, images: NodeImage[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.patchNodeStatus(
    { name, body: { status: { images } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function deleteNode(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.deleteNode({ name });
  } catch {
    // Already gone.
  }
}

export async function createNamespace(kc: KubeConfig, name: string, optedIn: boolean): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, ...(optedIn ? { annotations: { 'image-locality.dev/enabled': 'true' } } : {}) } },
  });
}

export async function createPod(kc: KubeConfig, pod: V1Pod, dryRun = false): Promise<V1Pod> {
  const core = kc.makeApiClient(CoreV1Api);
  return core.createNamespacedPod({
    namespace: pod.metadata?.namespace ?? 'default',
    body: pod,
    ...(dryRun ? { dryRun: 'All' } : {}),
  });
}

/** Poll until `check` returns a value or the time is up. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}
