/**
 * Reads what the status view needs from the cluster: Nodes (names and reported
 * images only) and every ImageCache. Read-only, one list each; errors are returned
 * as values that name what could not be read.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { buildStatusView, type StatusCacheInput, type StatusNodeInput, type StatusView } from './model.js';

export type FetchedStatus = { ok: true; view: StatusView } | { ok: false; error: string };

interface CacheObject {
  metadata?: { namespace?: string; name?: string };
  spec?: { images?: unknown };
  status?: StatusCacheInput['status'];
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return `${typeof e.code === 'number' ? `${e.code} ` : ''}${String(e.message ?? err)}`.split('\n')[0]!.slice(0, 300);
}

export async function fetchStatusView(kc: KubeConfig): Promise<FetchedStatus> {
  let nodes: StatusNodeInput[];
  try {
    const list = await kc.makeApiClient(CoreV1Api).listNode();
    nodes = list.items.map((n) => ({ name: n.metadata?.name ?? '', images: (n.status?.images ?? []).map((i) => i.names ?? []) })).filter((n) => n.name);
  } catch (err) {
    return { ok: false, error: `listing nodes: ${describe(err)}` };
  }
  let caches: StatusCacheInput[];
  try {
    const list = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ group: 'image-locality.dev', version: 'v1alpha1', plural: 'imagecaches' })) as { items?: CacheObject[] };
    caches = (list.items ?? []).map((c) => ({
      namespace: c.metadata?.namespace ?? '',
      name: c.metadata?.name ?? '',
      images: Array.isArray(c.spec?.images) ? c.spec.images.filter((i): i is string => typeof i === 'string') : [],
      ...(c.status ? { status: c.status } : {}),
    }));
  } catch (err) {
    return { ok: false, error: `listing ImageCaches: ${describe(err)}` };
  }
  return { ok: true, view: buildStatusView(nodes, caches) };
}
