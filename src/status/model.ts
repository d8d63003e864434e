/**
 * The status view: which node holds, is pulling, failed to pull or lacks each
 * image that an ImageCache asks for, and how far each cache has got. Pure: nodes
 * (their reported images) and ImageCaches go in, one view-model comes out, the same
 * for the `status` command's table, its JSON, and the controller's HTML page.
 *
 * A node's own report (status.images) says `cached` even when no cache recorded
 * it; otherwise the caches' per-node entries decide, and the worst state wins
 * where two caches disagree (failed over pulling over pending), so a failure is
 * never hidden behind another cache's success.
 */
import { nodeImageKey, normalizeImage } from '../images/reference.js';

export type CellState = 'cached' | 'pulling' | 'pending' | 'failed' | 'missing';

export interface StatusNodeInput {
  name: string;
  /** `status.images[].names` of the Node. */
  images: string[][];
}

export interface StatusCacheInput {
  namespace: string;
  name: string;
  images: string[];
  status?: {
    wantedNodes?: number;
    cachedNodes?: number;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    images?: Array<{ image: string; nodes?: Array<{ node: string; state: string; reason?: string }> }>;
  };
}

export interface StatusCell {
  state: CellState;
  reason?: string;
}

export interface StatusRow {
  /** Normalized image reference. */
  image: string;
  /** Caches (namespace/name) that ask for it. */
  caches: string[];
  /** One cell per node, in `nodes` order. */
  cells: StatusCell[];
  cachedNodes: number;
}

export interface CacheCoverage {
  cache: string;
  images: number;
  cachedNodes: number;
  wantedNodes: number;
  ready: string;
  reason: string;
}

export interface StatusView {
  nodes: string[];
  rows: StatusRow[];
  caches: CacheCoverage[];
}

const SEVERITY: Record<CellState, number> = { missing: 0, cached: 1, pending: 2, pulling: 3, failed: 4 };
const KNOWN_STATES = new Set<string>(['cached', 'pulling', 'pending', 'failed']);

function worse(a: StatusCell | undefined, b: StatusCell): StatusCell {
  return !a || SEVERITY[b.state] > SEVERITY[a.state] ? b : a;
}

export function buildStatusView(nodes: StatusNodeInput[], caches: StatusCacheInput[]): StatusView {
  const nodeNames = [...new Set(nodes.map((n) => n.name))].sort();
  const nodeIndex = new Map(nodeNames.map((n, i) => [n, i]));
  const held = new Map<string, Set<string>>();
  for (const node of nodes) {
    for (const names of node.images) {
      for (const name of names) {
        const key = nodeImageKey(name);
        if (!key) continue;
        let holders = held.get(key);
        if (!holders) held.set(key, (holders = new Set()));
        holders.add(node.name);
      }
    }
  }

  const rows = new Map<string, { caches: Set<string>; reported: Map<string, StatusCell> }>();
  const coverage: CacheCoverage[] = [];
  for (const cache of caches) {
    const id = `${cache.namespace}/${cache.name}`;
    const wanted = new Set<string>();
    for (const ref of cache.images) {
      const key = normalizeImage(ref);
      if (!key) continue;
      wanted.add(key);
      if (!rows.has(key)) rows.set(key, { caches: new Set(), reported: new Map() });
      rows.get(key)!.caches.add(id);
    }
    for (const image of cache.status?.images ?? []) {
      const row = rows.get(image.image);
      if (!row || !wanted.has(image.image)) continue; // status for an image the spec no longer names
      for (const entry of image.nodes ?? []) {
        if (!nodeIndex.has(entry.node) || !KNOWN_STATES.has(entry.state)) continue;
        const cell: StatusCell = { state: entry.state as CellState, ...(entry.reason ? { reason: entry.reason } : {}) };
        row.reported.set(entry.node, worse(row.reported.get(entry.node), cell));
      }
    }
    const ready = cache.status?.conditions?.find((c) => c.type === 'Ready');
    coverage.push({
      cache: id,
      images: wanted.size,
      cachedNodes: cache.status?.cachedNodes ?? 0,
      wantedNodes: cache.status?.wantedNodes ?? 0,
      ready: ready?.status ?? 'Unknown',
      reason: ready?.reason ?? '',
    });
  }

  const statusRows: StatusRow[] = [...rows.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([image, row]) => {
      const holders = held.get(image) ?? new Set<string>();
      const cells = nodeNames.map((node): StatusCell => {
        const reported = row.reported.get(node);
        // A failure the cache recorded stays visible even if the node lists an older copy.
        if (reported?.state === 'failed') return reported;
        if (holders.has(node)) return { state: 'cached' };
        return reported ?? { state: 'missing' };
      });
      return { image, caches: [...row.caches].sort(), cells, cachedNodes: cells.filter((c) => c.state === 'cached').length };
    });
  coverage.sort((a, b) => (a.cache < b.cache ? -1 : a.cache > b.cache ? 1 : 0));
  return { nodes: nodeNames, rows: statusRows, caches: coverage };
}
