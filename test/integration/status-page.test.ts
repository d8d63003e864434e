// The controller's status page as a person sees it: the view served by the real
// route (src/status/http.ts) on 127.0.0.1, opened in headless Chromium (Debian's
// package, driven by playwright-core), read back from the rendered page, and
// photographed. IMAGE_LOCALITY_STATUS_SCREENSHOT=docs/status-page.png refreshes
// the README's picture.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser } from 'playwright-core';
import { buildStatusView } from '../../src/status/model.js';
import { statusRoute } from '../../src/status/http.js';
import { STATUS_CACHES, STATUS_NODES } from '../support/status-fixture.js';

const CHROMIUM = process.env['IMAGE_LOCALITY_CHROMIUM'] ?? '/usr/bin/chromium';
// No traffic leaves the machine: no background services, updates, sync or QUIC.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

describe('status page in headless Chromium', function () {
  this.timeout(120_000);
  let server: Server;
  let base = '';
  let browser: Browser;
  let dir = '';
  let loads = 0;

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium (.ci/run does)`);
    dir = mkdtempSync(join(tmpdir(), 'image-locality-status-'));
    const route = statusRoute(async () => {
      loads += 1;
      return { ok: true, view: buildStatusView(STATUS_NODES, STATUS_CACHES) };
    });
    server = createServer((req, res) => {
      if (!route(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });

  after(async function () {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the image-by-node grid with each state, the failure reason, and the caches\' coverage', async function () {
    const page = await browser.newPage({ viewport: { width: 1000, height: 560 } });
    const response = await page.goto(`${base}/status`);
    expect(response?.status()).to.equal(200);
    expect(await page.title()).to.equal('image-locality status');
    const grid = await page.$$eval('#grid tbody tr', (rows) =>
      rows.map((r) => ({
        image: r.getAttribute('data-image'),
        states: [...r.querySelectorAll('td[data-state]')].map((td) => td.getAttribute('data-state')),
        visible: [...r.querySelectorAll('td[data-state]')].map((td) => (td.textContent ?? '').trim()),
      })),
    );
    expect(grid).to.deep.equal([
      { image: 'docker.io/library/nginx:1.25', states: ['cached', 'failed', 'pulling'], visible: ['cached', 'failed', 'pulling'] },
      { image: 'docker.io/library/redis:7.2', states: ['failed', 'pending', 'missing'], visible: ['failed', 'pending', '·'] },
      { image: 'registry.example/ml/model-server:2.0', states: ['cached', 'missing', 'missing'], visible: ['cached', '·', '·'] },
    ]);
    // Colour is what a person scans for: a failed cell is red, a cached one green.
    const colors = await page.$$eval('#grid td[data-state="failed"], #grid td[data-state="cached"]', (tds) => tds.map((td) => [td.getAttribute('data-state'), (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(td).backgroundColor]));
    expect(colors).to.deep.include(['failed', 'rgb(207, 34, 46)']);
    expect(colors).to.deep.include(['cached', 'rgb(26, 127, 55)']);
    expect(await page.innerText('#failures')).to.contain('docker.io/library/redis:7.2 on node-a: ErrImagePull: <manifest unknown>');
    const caches = await page.$$eval('#caches tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => (c.textContent ?? '').trim())));
    expect(caches).to.deep.equal([
      ['ml/models', '2', '1/2', 'True', 'AllCached'],
      ['shop/web', '2', '0/3', 'False', 'Pulling'],
    ]);
    const shot = process.env['IMAGE_LOCALITY_STATUS_SCREENSHOT'] ?? join(dir, 'status.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).to.equal('PNG');
    expect(statSync(shot).size).to.be.greaterThan(10_000);
    await page.close();
  });

  it('serves the same view as JSON, read-only, and reads the cluster at most once per interval', async function () {
    const before = loads;
    const json = (await (await fetch(`${base}/status.json`)).json()) as { nodes: string[]; rows: unknown[] };
    await fetch(`${base}/status.json`);
    expect(json.nodes).to.deep.equal(['node-a', 'node-b', 'node-c']);
    expect(json.rows).to.have.length(3);
    expect(loads - before).to.be.at.most(1);
    expect((await fetch(`${base}/status.json`, { method: 'POST' })).status).to.equal(405);
  });
});
