/**
 * The status view as one small, self-contained HTML page (no scripts, no external
 * resources): an image-by-node grid with a state in every cell (and the failure
 * reason as its title), then each ImageCache's coverage. Every value from the
 * cluster is escaped. Pure.
 */
import type { CellState, StatusView } from './model.js';

const COLORS: Record<CellState, string> = {
  cached: '#1a7f37',
  pulling: '#9a6700',
  pending: '#57606a',
  failed: '#cf222e',
  missing: '#d0d7de',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export function renderStatusHtml(view: StatusView, generatedAt: string): string {
  const e = escapeHtml;
  const head = view.nodes.map((n) => `<th scope="col">${e(n)}</th>`).join('');
  const rows = view.rows
    .map((r) => {
      const cells = r.cells
        .map((c, i) => {
          const title = `${view.nodes[i] ?? ''}: ${c.state}${c.reason ? ` (${c.reason})` : ''}`;
          return `<td class="${c.state}" data-node="${e(view.nodes[i] ?? '')}" data-state="${c.state}" title="${e(title)}">${c.state === 'missing' ? '&middot;' : e(c.state)}</td>`;
        })
        .join('');
      return `<tr data-image="${e(r.image)}"><th scope="row">${e(r.image)}</th>${cells}<td class="count">${r.cachedNodes}/${view.nodes.length}</td></tr>`;
    })
    .join('\n');
  const failures = view.rows.flatMap((r) =>
    r.cells.flatMap((c, i) => (c.state === 'failed' ? [`<li><code>${e(r.image)}</code> on <b>${e(view.nodes[i] ?? '')}</b>: ${e(c.reason ?? 'no reason given')}</li>`] : [])),
  );
  const caches = view.caches
    .map((c) => `<tr data-cache="${e(c.cache)}"><th scope="row">${e(c.cache)}</th><td>${c.images}</td><td>${c.cachedNodes}/${c.wantedNodes}</td><td class="ready-${e(c.ready)}">${e(c.ready)}</td><td>${e(c.reason)}</td></tr>`)
    .join('\n');
  const legend = (Object.keys(COLORS) as CellState[]).map((s) => `<span class="${s}">${s}</span>`).join(' ');
  const style = [
    'body{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}',
    'h1{font-size:20px}h2{font-size:16px;margin-top:28px}',
    'table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:center}',
    'th[scope=row]{text-align:left;font-family:ui-monospace,monospace;font-weight:normal}',
    '.legend span{padding:2px 8px;border-radius:4px;margin-right:4px}',
    ...(Object.entries(COLORS) as Array<[CellState, string]>).map(([s, c]) => `.${s}{background:${c};color:${s === 'missing' ? '#57606a' : '#fff'}}`),
    '.count{font-variant-numeric:tabular-nums}',
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>image-locality status</title>
<style>${style}</style></head>
<body>
<h1>image-locality: images by node</h1>
<p class="legend">${legend}</p>
${view.rows.length === 0 ? '<p id="no-images">No ImageCache names an image yet.</p>' : `<table id="grid"><thead><tr><th>image</th>${head}<th>cached</th></tr></thead>\n<tbody>\n${rows}\n</tbody></table>`}
${failures.length > 0 ? `<h2>Failed pulls</h2><ul id="failures">${failures.join('')}</ul>` : ''}
<h2>ImageCaches</h2>
${view.caches.length === 0 ? '<p>No ImageCaches.</p>' : `<table id="caches"><thead><tr><th>cache</th><th>images</th><th>nodes</th><th>ready</th><th>reason</th></tr></thead>\n<tbody>\n${caches}\n</tbody></table>`}
<p><small>Generated ${e(generatedAt)}. JSON: <a href="status.json">status.json</a></small></p>
</body></html>
`;
}
