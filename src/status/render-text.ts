/**
 * The status view as plain-text tables for a terminal: one row per image, one
 * column per node (cached, pulling, pending, failed, missing), failure reasons
 * listed below, then each ImageCache's coverage. Pure.
 */
import type { StatusView } from './model.js';

const MARK = { cached: 'cached', pulling: 'pulling', pending: 'pending', failed: 'FAILED', missing: '-' } as const;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function renderStatusText(view: StatusView): string {
  const out: string[] = [];
  if (view.rows.length === 0) {
    out.push('No ImageCache names an image yet.');
  } else {
    out.push(table(['IMAGE', ...view.nodes, 'CACHED'], view.rows.map((r) => [r.image, ...r.cells.map((c) => MARK[c.state]), `${r.cachedNodes}/${view.nodes.length}`])));
    const failures = view.rows.flatMap((r) => r.cells.flatMap((c, i) => (c.state === 'failed' ? [`  ${r.image} on ${view.nodes[i]}: ${c.reason ?? 'no reason given'}`] : [])));
    if (failures.length > 0) out.push('', 'Failed pulls:', ...failures);
  }
  out.push('');
  out.push(
    view.caches.length === 0
      ? 'No ImageCaches.'
      : table(['IMAGECACHE', 'IMAGES', 'NODES', 'READY', 'REASON'], view.caches.map((c) => [c.cache, String(c.images), `${c.cachedNodes}/${c.wantedNodes}`, c.ready, c.reason])),
  );
  return out.join('\n') + '\n';
}
