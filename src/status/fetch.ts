/**
 * Reads what the status view needs from the cluster: Nodes (names and reported
 * images only) and every ImageCache. Read-only, one list each; errors are returned
 * as values that name what could not be read.
 */
import type { ApiConnection } from '../cluster/api-connection.js';
import { kubeTransport } from '../cluster/api-transport.js';
import type { ListWatchTransport } from '../cluster/list-watch.js';
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

/** Objects per list page: each node is reduced to its image names as it is read, so a page is never held whole. */
const PAGE = 500;

/** Every object of a collection, page by page, each reduced by `take` as soon as it has been read. */
async function listAll<T>(transport: ListWatchTransport, path: string, take: (item: unknown) => T): Promise<T[]> {
  const out: T[] = [];
  let cont = '';
  do {
    const page = await transport.listPage(path, { limit: String(PAGE), ...(cont ? { continue: cont } : {}) }, new AbortController().signal, (item) => out.push(take(item)));
    cont = page.continue ?? '';
  } while (cont);
  return out;
}

interface NodeObject {
  metadata?: { name?: string };
  status?: { images?: Array<{ names?: string[] }> };
}

export async function fetchStatusView(kc: ApiConnection): Promise<FetchedStatus> {
  const transport = kubeTransport(kc);
  let nodes: StatusNodeInput[];
  try {
    const listed = await listAll(transport, '/api/v1/nodes', (item) => {
      const n = item as NodeObject;
      return { name: n?.metadata?.name ?? '', images: (Array.isArray(n?.status?.images) ? n.status.images : []).map((i) => (Array.isArray(i?.names) ? i.names : [])) };
    });
    nodes = listed.filter((n) => n.name);
  } catch (err) {
    return { ok: false, error: `listing nodes: ${describe(err)}` };
  }
  let caches: StatusCacheInput[];
  try {
    const items = await listAll(transport, '/apis/image-locality.dev/v1alpha1/imagecaches', (item) => item as CacheObject);
    caches = items.map((c) => ({
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
