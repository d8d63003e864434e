/**
 * `npm run bench:real-nodes`: pod start time with and without image-locality on
 * three real nodes (kubelet + containerd each) pulling a large image through a
 * bandwidth-limited registry link, one node warm. Same run, same image, same
 * starting state for each arm (see test/e2e/real-node/start-times.ts). Needs root
 * and the Debian packages that .ci/run installs.
 *
 * Env: BENCH_IMAGE_MB (default 320, in 64 MB incompressible layers),
 * BENCH_PODS (default 9), IMAGE_LOCALITY_LAB_MB_PER_S (default 50).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { setPolicy } from '../test/e2e/support/harness.js';
import { applyImageCacheCrd } from '../test/e2e/support/imagecache-crd.js';
import { createNamespace } from '../test/e2e/support/cluster-objects.js';
import { startLab } from '../test/e2e/real-node/lab.js';
import { startLabImageLocality, type LabImageLocality } from '../test/e2e/real-node/lab-webhook.js';
import { missingForRealNodes } from '../test/e2e/real-node/requirements.js';
import { measureStartTimes, summarize, type BurstResult } from '../test/e2e/real-node/start-times.js';
import { CoreV1Api } from '@kubernetes/client-node';

const LAYER_MB = 64;
const IMAGE_MB = Number(process.env['BENCH_IMAGE_MB'] ?? 320);
const PODS = Number(process.env['BENCH_PODS'] ?? 9);

const LABELS: Record<string, string> = {
  without: 'without image-locality',
  with: 'with image-locality',
  warmed: 'with image-locality, after demand warming',
};

function table(results: BurstResult[]): string {
  const s = (ms: number): string => (ms / 1000).toFixed(1);
  const rows = results.map((r) => {
    const t = summarize(r.ms);
    const nodes = Object.entries(r.nodes)
      .sort()
      .map(([n, c]) => `${n.replace('lab-node-', 'n')}:${c}`)
      .join(' ');
    return `| ${LABELS[r.arm] ?? r.arm} | ${s(t.p50)} | ${s(t.p95)} | ${s(t.max)} | ${nodes} |`;
  });
  return ['| pods of a cold image, one node warm | p50 s | p95 s | max s | pods per node |', '| --- | ---: | ---: | ---: | --- |', ...rows].join('\n');
}

async function main(): Promise<void> {
  const missing = missingForRealNodes();
  if (missing.length > 0) {
    console.error(`bench:real-nodes needs ${missing.join('; ')}`);
    process.exit(2);
  }
  const layers = Math.max(1, Math.round(IMAGE_MB / LAYER_MB));
  const t0 = Date.now();
  const lab = await startLab({ nodes: 3, large: { big: { layers, layerBytes: LAYER_MB * 1_000_000 } }, log: (l) => console.error(`[lab] ${l}`) });
  let webhook: LabImageLocality | undefined;
  try {
    const core = lab.kc.makeApiClient(CoreV1Api);
    await applyImageCacheCrd(lab.kc);
    await createNamespace(lab.kc, 'image-locality', false);
    // Demand warming onto every node, so the third arm finds the image everywhere.
    await setPolicy(core, ['warm:', `  minNodes: ${lab.nodes.length}`, 'affinity:', '  minScore: 0'].join('\n'));
    webhook = await startLabImageLocality(lab);
    const image = lab.images['big']!;
    const results = await measureStartTimes(lab, { image: image.ref, pods: PODS, log: (l) => console.error(`[bench] ${l}`) });
    const cpu = cpus();
    console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()[0]?.toFixed(1)} at the end`);
    console.log(`nodes: ${lab.nodes.length} real kubelets v1.36.3 + containerd, one network namespace; registry link per node ${lab.megabytesPerSecond} MB/s`);
    console.log(`image: ${image.ref}, ${(image.bytes / 1e6).toFixed(0)} MB compressed (${layers} incompressible layers); ${PODS} pods per burst, created at once`);
    console.log(`create-to-Running, one run of each arm (same lab, same run; total ${((Date.now() - t0) / 1000).toFixed(0)} s):\n`);
    console.log(table(results));
    console.log(`\nraw ms: ${results.map((r) => `${r.arm}=[${r.ms.join(',')}]`).join(' ')}`);
  } finally {
    await webhook?.kill();
    await lab.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
