/**
 * `npm run bench:scale:memory`: memory and CPU of the two programs at 5,000
 * realistic nodes and 500 ImageCaches on a real kube-apiserver.
 *
 * 1. A control plane, the ImageCache CRD, opted-in namespaces.
 * 2. `serve` started on the empty cluster: its RSS there is the same-run baseline.
 * 3. 5,000 nodes shaped like a cloud provider's (managedFields, 5 conditions, 50
 *    images with two names each) and 500 ImageCaches; the first `serve` sees them
 *    arrive through its watch.
 * 4. A second `serve` lists the full cluster in pages at start.
 * 5. A forced relist: kube-apiserver is restarted and, while it is down, a write
 *    straight to etcd moves the revision on, so the restarted watch cache no longer
 *    has the versions the clients resume from and answers 410 Gone. The bench
 *    checks that each process relisted (image_locality_informer_lists_total
 *    {reason="expired"}) and reports the peak RSS over the relist (VmHWM, reset
 *    just before) and the RSS after.
 * 6. `controller` on the full cluster, with a full warming pass every 5 s: the CPU
 *    of each full pass (image_locality_warm_pass_cpu_seconds), RSS, a forced relist.
 * 7. Admission p50/p99 over HTTPS against the second `serve` while the controller
 *    makes its full passes, then the same with the controller stopped (baseline).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../test/e2e/control-plane/control-plane.js';
import { applyImageCacheCrd } from '../../test/e2e/support/imagecache-crd.js';
import { metricValue } from '../../test/e2e/support/harness.js';
import { freePort, makeCertificates } from '../../test/e2e/support/webhook-process.js';
import { admissionLoad } from '../admission-load.js';
import { loadAtEndLine, machineLine } from '../stats.js';
import { imageCatalogue, podReview, prng } from '../workload.js';
import { apiOk, inParallel } from './kube-raw.js';
import { POOLS, realisticNode } from './realistic-node.js';
import { nodeOptionsFor, type ShippedProgram } from './shipped-flags.js';
import { MB, cpuSeconds, probeGet, peakRssBytes, resetPeak, rssBytes, sleep, startProgram, type Program } from './processes.js';

const NODES = Number(process.env['BENCH_SCALE_NODES'] ?? 5000);
const CACHES = Number(process.env['BENCH_SCALE_CACHES'] ?? 500);
const TEAMS = 10;
const RESYNC_SECONDS = 5;
const FULL_PASS_SAMPLES = 5;
const LOAD_SECONDS = Number(process.env['BENCH_SECONDS'] ?? 15);
const CONNECTIONS = 16;
const OWN_NAMESPACE = 'image-locality';
const LIMIT_MB = 256;

interface Running {
  program: Program;
  port: number;
}

interface Row {
  what: string;
  rssMb: number;
  peakMb?: number;
  note?: string;
}

const rows: Row[] = [];
const mb = (bytes: number): number => Math.round(bytes / MB);

async function main(): Promise<void> {
  console.log(`# bench:scale:memory — ${NODES} realistic nodes, ${CACHES} ImageCaches`);
  console.log(machineLine());
  const flags = (program: ShippedProgram): string => nodeOptionsFor(program) || '(none: V8 defaults)';
  console.log(`NODE_OPTIONS: serve ${flags('serve')}; controller ${flags('controller')} (${process.env['BENCH_NODE_OPTIONS'] !== undefined ? 'BENCH_NODE_OPTIONS' : 'as the Deployments ship them'})`);
  const workDir = mkdtempSync(join(tmpdir(), 'image-locality-bench-scale-'));
  let cp: ControlPlane | undefined;
  const programs: Program[] = [];
  try {
    cp = await startControlPlane({ scheduler: false, log: (line) => console.log(`  [control plane] ${line}`) });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    await applyImageCacheCrd(kc);
    for (const ns of [OWN_NAMESPACE, 'bench', ...Array.from({ length: TEAMS }, (_, i) => `team-${i}`)]) {
      await apiOk(kc, 'POST', '/api/v1/namespaces', {
        metadata: { name: ns, ...(ns === OWN_NAMESPACE ? {} : { annotations: { 'image-locality.dev/enabled': 'true' } }) },
      });
    }
    const certs = await makeCertificates(join(workDir, 'certs'));
    const ca = readFileSync(join(certs.certDir, 'ca.crt'));
    const start = async (name: string, command: string[]): Promise<Running> => {
      const port = await freePort();
      const program = startProgram(
        name,
        [...command, '--port', String(port), '--host', '127.0.0.1', '--cert-dir', certs.certDir, '--namespace', OWN_NAMESPACE],
        { KUBECONFIG: (cp as ControlPlane).kubeconfigPath, LOG_LEVEL: 'info' },
        workDir,
        nodeOptionsFor('serve'),
      );
      programs.push(program);
      return { program, port };
    };
    const metrics = async (r: Running): Promise<string> => (await probeGet(`https://127.0.0.1:${r.port}/metrics`, ca)).body;
    const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> => {
      const t0 = Date.now();
      while (!(await check().catch(() => false))) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(250);
      }
      return Date.now() - t0;
    };
    const ready = (r: Running) => async () => (await probeGet(`https://127.0.0.1:${r.port}/readyz`, ca)).status === 200;
    const indexedNodes = async (r: Running) => metricValue(await metrics(r), 'image_locality_index_nodes') ?? -1;

    // ---- 2. baseline: serve on the empty cluster
    const watching = await start('serve-watching', ['serve']);
    await waitFor('serve to be ready', ready(watching), 120_000);
    await sleep(3000);
    rows.push({ what: 'serve, empty cluster (baseline)', rssMb: mb(rssBytes(watching.program.pid)) });

    // ---- 3. nodes and caches
    const catalogue = imageCatalogue(2000, prng(7));
    const random = prng(11);
    let bytes = 0;
    const t0 = Date.now();
    await inParallel(NODES, 8, async (i) => {
      const node = realisticNode(i, catalogue, random);
      const created = (await apiOk(kc, 'POST', '/api/v1/nodes', { ...node, status: undefined })) as Record<string, unknown>;
      const stored = await apiOk(kc, 'PUT', `/api/v1/nodes/${(created['metadata'] as { name: string }).name}/status`, { ...created, status: node['status'] });
      bytes += JSON.stringify(stored).length;
      if ((i + 1) % 500 === 0) console.log(`  ${i + 1} nodes created (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    });
    console.log(`  average node as stored: ${(bytes / NODES / 1024).toFixed(1)} KB of JSON (${mb(bytes)} MB in all)`);
    await inParallel(CACHES, 8, async (i) => {
      const image = catalogue[(i * 7) % catalogue.length]?.reference as string;
      // A tenth select every node, the rest a pool (250 nodes) or 3 nodes of a zone (as demand does).
      const spec: Record<string, unknown> =
        i % 10 === 0
          ? { images: [image] }
          : i % 2 === 0
          ? { images: [image], nodeSelector: { pool: `pool-${i % POOLS}` } }
          : { images: [image], minNodes: 3, nodeSelector: { 'topology.kubernetes.io/zone': `eu-west-1${'abc'[i % 3]}` } };
      const ns = `team-${i % TEAMS}`;
      await apiOk(kc, 'POST', `/apis/image-locality.dev/v1alpha1/namespaces/${ns}/imagecaches`, {
        apiVersion: 'image-locality.dev/v1alpha1',
        kind: 'ImageCache',
        metadata: { name: `cache-${i}`, namespace: ns },
        spec,
      });
    });
    console.log(`  ${CACHES} ImageCaches created`);
    await waitFor('the watching serve to index every node', async () => (await indexedNodes(watching)) === NODES, 300_000);
    await sleep(5000);
    rows.push({ what: `serve, ${NODES} nodes arrived by watch`, rssMb: mb(rssBytes(watching.program.pid)), peakMb: mb(peakRssBytes(watching.program.pid)) });

    // ---- 4. a fresh serve: paged initial list at full size
    const listing = await start('serve-listing', ['serve']);
    const readyMs = await waitFor('the second serve to be ready', ready(listing), 300_000);
    await sleep(10_000);
    rows.push({
      what: `serve, ${NODES} nodes by initial list (ready in ${(readyMs / 1000).toFixed(1)} s)`,
      rssMb: mb(rssBytes(listing.program.pid)),
      peakMb: mb(peakRssBytes(listing.program.pid)),
    });

    // ---- 5. forced relist of both
    type Getter = Record<string, () => Promise<string>>;
    const expiredLists = async (r: Running, getters: Getter = {}): Promise<number> =>
      metricValue(await (getters[r.program.name] ?? (() => metrics(r)))(), 'image_locality_informer_lists_total', { informer: 'nodes', reason: 'expired' }) ?? 0;
    let relists = 0;
    const forceRelist = async (all: Running[], getters: Getter = {}): Promise<void> => {
      relists++;
      const before = await Promise.all(all.map((r) => expiredLists(r, getters)));
      for (const r of all) resetPeak(r.program.pid);
      await (cp as ControlPlane).restartApiserver(async () => {
        // Moves etcd's revision past every version the clients saw, so the restarted watch cache answers 410.
        const put = await fetch(`${(cp as ControlPlane).etcdEndpoint}/v3/kv/put`, {
          method: 'POST',
          body: JSON.stringify({ key: Buffer.from('/bench/relist-marker').toString('base64'), value: Buffer.from(String(Date.now())).toString('base64') }),
        });
        if (!put.ok) throw new Error(`etcd put failed: HTTP ${put.status}`);
      });
      for (const [i, r] of all.entries()) {
        await waitFor(`${r.program.name} to relist`, async () => (await expiredLists(r, getters)) > (before[i] as number), 300_000);
      }
      await sleep(5000);
      for (const r of all) {
        rows.push({ what: `${r.program.name} after forced relist ${relists} (peak: during it)`, rssMb: mb(rssBytes(r.program.pid)), peakMb: mb(peakRssBytes(r.program.pid)) });
      }
    };
    await forceRelist([watching, listing]);
    await watching.program.stop();

    // ---- 6. the controller: steady RSS, full-pass CPU, idleness, relist
    const controllerPort = await freePort();
    const controller: Running = {
      port: controllerPort,
      program: startProgram(
        'controller',
        ['controller', '--port', String(controllerPort), '--host', '127.0.0.1', '--namespace', OWN_NAMESPACE],
        { KUBECONFIG: cp.kubeconfigPath, LOG_LEVEL: 'info', IMAGE_LOCALITY_RESYNC_SECONDS: String(RESYNC_SECONDS) },
        workDir,
        nodeOptionsFor('controller'),
      ),
    };
    programs.push(controller.program);
    const controllerMetrics = async (): Promise<string> => (await probeGet(`http://127.0.0.1:${controllerPort}/metrics`)).body;
    const fullPasses = async (): Promise<number> => metricValue(await controllerMetrics(), 'image_locality_warm_passes_total', { kind: 'full' }) ?? 0;
    await waitFor('the controller to lead and make a full pass', async () => (await fullPasses()) >= 1, 300_000);
    // Full passes every RESYNC_SECONDS from here on: sample the CPU of several.
    const fullCpu: number[] = [];
    let seen = await fullPasses();
    while (fullCpu.length < FULL_PASS_SAMPLES) {
      await waitFor('another full pass', async () => (await fullPasses()) > seen, 120_000);
      const text = await controllerMetrics();
      seen = metricValue(text, 'image_locality_warm_passes_total', { kind: 'full' }) ?? seen;
      fullCpu.push(metricValue(text, 'image_locality_warm_pass_cpu_seconds', { kind: 'full' }) ?? Number.NaN);
    }
    rows.push({ what: `controller, ${NODES} nodes, ${CACHES} caches`, rssMb: mb(rssBytes(controller.program.pid)), peakMb: mb(peakRssBytes(controller.program.pid)) });
    await forceRelist([listing, controller], { [controller.program.name]: controllerMetrics });

    // ---- 7. admission latency over HTTPS, with the controller making full passes, then stopped
    const catalogueForPods = catalogue;
    const podRandom = prng(42);
    const bodies = Array.from({ length: 64 }, (_, i) => JSON.stringify(podReview(i, catalogueForPods, podRandom)));
    const withController = await admissionLoad(listing.port, bodies, LOAD_SECONDS, CONNECTIONS);
    const controllerCpuDuringLoad = cpuSeconds(controller.program.pid);
    await controller.program.stop();
    const withoutController = await admissionLoad(listing.port, bodies, LOAD_SECONDS, CONNECTIONS);

    const sorted = [...fullCpu].sort((x, y) => x - y);
    console.log('');
    console.log(`full warming pass (${CACHES} caches x ${NODES} nodes), CPU seconds over ${fullCpu.length} passes: median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(3)}, min ${sorted[0]?.toFixed(3)}, max ${sorted[sorted.length - 1]?.toFixed(3)} (target: under 1 s)`);
    console.log(`controller CPU over its whole life: ${controllerCpuDuringLoad.toFixed(1)} s`);
    console.log('');
    console.log(`admission over HTTPS (${LOAD_SECONDS} s, ${CONNECTIONS} connections, serve with ${NODES} nodes):`);
    console.log(`| controller | requests/s | p50 ms | p99 ms | errors |`);
    console.log(`| --- | ---: | ---: | ---: | ---: |`);
    console.log(`| running, full pass every ${RESYNC_SECONDS} s | ${withController.rps.toFixed(0)} | ${withController.p50} | ${withController.p99} | ${withController.errors + withController.non2xx} |`);
    console.log(`| stopped (baseline) | ${withoutController.rps.toFixed(0)} | ${withoutController.p50} | ${withoutController.p99} | ${withoutController.errors + withoutController.non2xx} |`);

    console.log('');
    console.log(`| process and moment | RSS MB | peak RSS MB |`);
    console.log(`| --- | ---: | ---: |`);
    for (const row of rows) console.log(`| ${row.what} | ${row.rssMb} | ${row.peakMb ?? ''} |`);
    const worst = Math.max(...rows.map((r) => Math.max(r.rssMb, r.peakMb ?? 0)));
    console.log('');
    console.log(`highest RSS of any process at any moment: ${worst} MB (target: under ${LIMIT_MB} MB)`);
    console.log(loadAtEndLine());
  } finally {
    for (const p of programs.reverse()) await p.stop().catch(() => undefined);
    await cp?.stop();
    if (process.env['BENCH_KEEP_LOGS'] !== '1') rmSync(workDir, { recursive: true, force: true });
    else console.log(`logs kept in ${workDir}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
