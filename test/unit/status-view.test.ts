// The status view model and its text and HTML renderings (src/status/).
import { expect } from 'chai';
import { buildStatusView } from '../../src/status/model.js';
import { renderStatusHtml } from '../../src/status/render-html.js';
import { renderStatusText } from '../../src/status/render-text.js';
import { STATUS_CACHES, STATUS_NODES } from '../support/status-fixture.js';

describe('status view', () => {
  // Built for each test rather than at load, so the image parsing it does is credited
  // to the tests (mutation testing can then run just those for a mutant there).
  let view: ReturnType<typeof buildStatusView>;
  beforeEach(() => {
    view = buildStatusView(STATUS_NODES, STATUS_CACHES);
  });
  const cell = (image: string, node: string) => {
    const row = view.rows.find((r) => r.image === image);
    return row?.cells[view.nodes.indexOf(node)];
  };

  it('has one row per normalized image any cache names, nodes sorted, and ignores status for images no longer in the spec', () => {
    expect(view.nodes).to.deep.equal(['node-a', 'node-b', 'node-c']);
    expect(view.rows.map((r) => r.image)).to.deep.equal([
      'docker.io/library/nginx:1.25',
      'docker.io/library/redis:7.2',
      'registry.example/ml/model-server:2.0',
    ]);
    expect(view.rows.find((r) => r.image.includes('redis'))?.caches).to.deep.equal(['ml/models', 'shop/web']);
  });

  it('takes cached from the node\'s own report, pulling and pending from the cache, missing otherwise', () => {
    expect(cell('docker.io/library/nginx:1.25', 'node-a')).to.deep.equal({ state: 'cached' });
    expect(cell('docker.io/library/nginx:1.25', 'node-c')).to.deep.equal({ state: 'pulling' });
    expect(cell('docker.io/library/redis:7.2', 'node-b')).to.deep.equal({ state: 'pending' });
    expect(cell('docker.io/library/redis:7.2', 'node-c')).to.deep.equal({ state: 'missing' });
    expect(cell('registry.example/ml/model-server:2.0', 'node-a')).to.deep.equal({ state: 'cached' });
    expect(view.rows.find((r) => r.image.includes('nginx'))?.cachedNodes).to.equal(1);
  });

  it('shows a failure with its reason even where another cache reports the image cached', () => {
    expect(cell('docker.io/library/redis:7.2', 'node-a')).to.deep.equal({ state: 'failed', reason: 'ErrImagePull: <manifest unknown>' });
    expect(cell('docker.io/library/nginx:1.25', 'node-b'), 'a failed refresh beside the node\'s older copy').to.deep.equal({ state: 'failed', reason: 'refresh: 401 Unauthorized' });
  });

  it('reports each cache\'s coverage and Ready condition', () => {
    expect(view.caches).to.deep.equal([
      { cache: 'ml/models', images: 2, cachedNodes: 1, wantedNodes: 2, ready: 'True', reason: 'AllCached' },
      { cache: 'shop/web', images: 2, cachedNodes: 0, wantedNodes: 3, ready: 'False', reason: 'Pulling' },
    ]);
  });

  it('prints a table with a column per node, the failure reasons, and the coverage', () => {
    const text = renderStatusText(view);
    const lines = text.split('\n');
    expect(lines[0]).to.match(/^IMAGE\s+node-a\s+node-b\s+node-c\s+CACHED$/);
    expect(lines.find((l) => l.startsWith('docker.io/library/redis:7.2'))).to.match(/FAILED\s+pending\s+-\s+0\/3$/);
    expect(text).to.contain('docker.io/library/redis:7.2 on node-a: ErrImagePull: <manifest unknown>');
    expect(text).to.match(/shop\/web\s+2\s+0\/3\s+False\s+Pulling/);
  });

  it('renders HTML with every cluster value escaped', () => {
    const html = renderStatusHtml(view, '2026-12-01T00:00:00Z');
    expect(html).to.contain('ErrImagePull: &lt;manifest unknown&gt;');
    expect(html).not.to.contain('<manifest');
    const hostile = buildStatusView([{ name: 'n"><script>alert(1)</script>', images: [] }], [{ namespace: 'x', name: '<b>', images: ['nginx'] }]);
    const page = renderStatusHtml(hostile, 'now');
    expect(page).not.to.contain('<script>');
    expect(page).not.to.contain('<b>');
  });

  it('says so when there is nothing to show', () => {
    const empty = buildStatusView([], []);
    expect(renderStatusText(empty)).to.contain('No ImageCache names an image yet.');
    expect(renderStatusHtml(empty, 'now')).to.contain('id="no-images"');
  });
});
