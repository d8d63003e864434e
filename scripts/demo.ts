// `npm run demo [-- --once]`: image-locality against a real, local Kubernetes
// control plane, for a person to watch. Builds (first time) or reuses the control
// plane binaries, starts etcd + kube-apiserver + kube-scheduler, makes certificates
// with `image-locality certs`, starts `image-locality serve`, registers it from the
// shipped manifest, creates nodes that hold different images and a few pods, waits
// for the scheduler and prints where everything went. Then it shows cache warming:
// the ImageCache CRD and a policy with warm.minNodes are in place from the start, a
// stand-in plays the kubelet's part for pre-pull pods (there is no kubelet), and the
// demo waits until the cold images are warm and an operator-declared ImageCache is
// cached, prints the caches, and creates one more replica that is now steered to
// the warmed nodes. Then it stays up for poking around until Ctrl-C (or exits at
// once with --once). Whatever happens, the control plane, the webhook and the temp
// dirs are removed on the way out.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ImageCache } from '../src/warm/imagecache.js';
import {
  controlPlaneBinDir,
  isRunning,
  repoRoot,
  startControlPlane,
  type ControlPlane,
} from '../test/e2e/control-plane/control-plane.js';
import { createNamespace, createNode, createPod, eventually } from '../test/e2e/support/cluster-objects.js';
import { startFakeKubelet, type FakeKubelet } from '../test/e2e/support/fake-kubelet.js';
import { applyImageCacheCrd } from '../test/e2e/support/imagecache-crd.js';
import { POLICY_CONFIGMAP, POLICY_NAMESPACE, setPolicy } from '../test/e2e/support/harness.js';
import { TRAINER, kubernetesVersion, nodeImageKeys, waitForBinding, waitForInjectedNodes } from '../test/e2e/support/placement.js';
import { registerWebhook, renderLocalWebhookConfiguration } from '../test/e2e/support/register.js';
import {
  makeCertificates,
  startController,
  startWebhook,
  type RunningController,
  type RunningWebhook,
} from '../test/e2e/support/webhook-process.js';
import {
  API,
  API_REPLICA,
  BASE_CACHE,
  BASE_POOL,
  DEMAND_IMAGES,
  DEMO_NODES,
  DEMO_PODS,
  EXPECTED_PREFERENCES,
  NGINX,
  OPTED_IN,
  PLAIN,
  WARM_MIN_NODES,
  WARM_POLICY,
  formatCacheNodes,
  formatCaches,
  formatNodes,
  formatPods,
  fullImageName,
  joinNames,
} from './demo-scene.js';

const USAGE = `Usage: npm run demo [-- --once] [-- --real-nodes]

Runs image-locality against a real local Kubernetes control plane (etcd,
kube-apiserver, kube-scheduler; no kubelet, nodes are API objects), creates
nodes holding different images and a few pods, and shows where the scheduler
put them. Then shows cache warming: cold images pulled onto nodes (a stand-in
plays the kubelet for pre-pull pods) and the next replica steered there.
Stays up for you to look around until Ctrl-C.

  --once        exit right after printing the result
  --real-nodes  the same story on three real kubelets with containerd and
                real pulls, plus measured pod start times (needs root and
                the Debian packages .ci/run installs)
  -h, --help  show this help
`;

const t0 = Date.now();
function progress(line: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
}

class DemoError extends Error {}

// ------------------------------------------------------------------ cleanup

/** Undo steps, run last-in first-out exactly once, whatever ends the demo. */
const undo: Array<{ what: string; run: () => Promise<void> | void }> = [];
let cleaning: Promise<void> | undefined;

/** Register how to undo a step; once cleanup has begun (a signal came mid-step), undo it at once. */
function onCleanup(what: string, run: () => Promise<void> | void): void {
  if (cleaning) {
    void (async () => run())().catch(() => undefined);
    return;
  }
  undo.push({ what, run });
}

/** Between steps: stop setting things up once a signal has come. */
function checkpoint(): void {
  if (signalled) throw new DemoError('interrupted');
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (undo.length > 0) {
      const step = undo.pop()!;
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`cleanup: ${step.what}: ${(err as Error).message}\n`);
      }
    }
  })();
  return cleaning;
}

let phase: 'setup' | 'running' = 'setup';
let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  if (signalled) {
    // control-plane.ts kills its components on exit; the webhook child dies with us.
    process.stderr.write('second signal: exiting without waiting\n');
    process.exit(130);
  }
  signalled = true;
  process.stderr.write('\n');
  progress(`${signal}: stopping the webhook and the control plane, removing temp files…`);
  // Ctrl-C is how a running demo is meant to end; during setup it is an interruption.
  const code = phase === 'running' ? 0 : 130;
  void cleanup().then(() => {
    progress('stopped; nothing left behind');
    process.exit(code);
  });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

// ------------------------------------------------------------------- steps

/**
 * SIGTERM, and SIGKILL if it has not exited after a few seconds. The webhook drains
 * in-flight requests for up to 25 s, and Node counts a connection the API server
 * opened but never sent a request on (Go's transport does that when admission
 * requests come in bursts, as pre-pull pods do) as in flight: nothing to wait for.
 */
async function stopWebhook(webhook: Pick<RunningWebhook, 'stop' | 'kill'>, graceMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const result = await Promise.race([webhook.stop().then(() => 'stopped' as const), late]);
  clearTimeout(timer);
  if (result === 'late') await webhook.kill();
}

/** Where build.sh keeps the binaries, and whether they are there (without building). */
function binaryStatus(): { dir: string; cached: boolean } {
  const override = process.env['IMAGE_LOCALITY_KUBE_BIN_DIR'];
  let dir = override;
  if (!dir) {
    const script = join(repoRoot(), 'test', 'e2e', 'control-plane', 'build.sh');
    const printed = spawnSync('bash', [script, '--print-bin-dir'], { encoding: 'utf8' });
    if (printed.status !== 0) throw new DemoError(`${script} --print-bin-dir failed: ${printed.stderr.trim()}`);
    dir = printed.stdout.trim();
  }
  const cached = ['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager'].every((b) => existsSync(join(dir!, b)));
  return { dir, cached };
}

function tailOf(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface JsonLine {
  namespace?: string;
  name?: string;
  reason?: string;
  dryRun?: boolean;
}

/** The webhook's own account of each pod (its debug log line), by namespace/name. */
async function webhookReasons(webhook: RunningWebhook, pods: V1Pod[]): Promise<Map<string, string | undefined>> {
  const find = (): Map<string, string> => {
    const found = new Map<string, string>();
    for (const line of webhook.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const l = JSON.parse(line) as JsonLine;
        if (l.namespace && l.name && l.reason && l.dryRun !== true) found.set(`${l.namespace}/${l.name}`, l.reason);
      } catch {
        // Not a log line of ours.
      }
    }
    return found;
  };
  const keys = pods.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`);
  // The webhook logs before it answers, but its output reaches us through a pipe.
  const found = await eventually('log lines', async () => {
    const f = find();
    return keys.every((k) => f.has(k)) ? f : undefined;
  }, 3_000).catch(() => find());
  return new Map(keys.map((k) => [k, found.get(k)]));
}

// ------------------------------------------------------------------ warming

const IC = { group: 'image-locality.dev', version: 'v1alpha1', plural: 'imagecaches' } as const;
/** Bound on each warming wait. */
const WARM_TIMEOUT_MS = 60_000;

async function listCaches(kc: KubeConfig): Promise<ImageCache[]> {
  const list = (await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({ ...IC })) as { items: ImageCache[] };
  return list.items;
}

/** Every wanted node cached (a cache that selects nothing never is). */
function cacheDone(c: ImageCache): boolean {
  const s = c.status;
  return !!s && s.observedGeneration === c.metadata.generation && (s.wantedNodes ?? 0) > 0 && s.cachedNodes === s.wantedNodes;
}

function cacheSummary(caches: readonly ImageCache[]): string {
  if (caches.length === 0) return 'no ImageCache exists';
  return caches
    .map((c) => {
      const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
      return `${c.metadata.namespace}/${c.metadata.name}: nodes ${c.status?.nodes ?? '?'}, Ready=${ready?.status ?? '?'} ${ready?.reason ?? ''} ${ready?.message ?? ''}`.trimEnd();
    })
    .join('\n  ');
}

interface Warmed {
  caches: ImageCache[];
  nodes: V1Node[];
  /** Schedulable nodes whose status.images now lists the api image. */
  apiNodes: string[];
}

/**
 * Wait (bounded) until the demand for each of DEMAND_IMAGES has been recorded, the
 * api image is on WARM_MIN_NODES schedulable nodes, and every ImageCache reports
 * all its wanted nodes cached.
 */
async function waitForWarming(kc: KubeConfig, controller: RunningController): Promise<Warmed> {
  const core = kc.makeApiClient(CoreV1Api);
  const apiKey = fullImageName(API);
  let last: ImageCache[] = [];
  let apiNodes: string[] = [];
  try {
    return await eventually(
      `${API} on ${WARM_MIN_NODES} nodes and every ImageCache cached`,
      async () => {
        last = await listCaches(kc);
        const nodes = (await core.listNode()).items;
        apiNodes = nodes
          .filter((n) => !n.spec?.unschedulable && nodeImageKeys(n).has(apiKey))
          .map((n) => n.metadata!.name!);
        const recorded = DEMAND_IMAGES.every((image) => last.some((c) => c.spec.images.some((i) => fullImageName(i) === fullImageName(image))));
        if (!recorded || apiNodes.length < WARM_MIN_NODES || !last.every(cacheDone)) return undefined;
        return { caches: last, nodes, apiNodes };
      },
      WARM_TIMEOUT_MS,
      250,
    );
  } catch {
    throw new DemoError(
      `warming did not finish within ${WARM_TIMEOUT_MS / 1000} s: ${API} is on ${apiNodes.length} schedulable node(s) ` +
        `(${apiNodes.join(', ') || 'none'}), wanted ${WARM_MIN_NODES}; ImageCaches:\n  ${cacheSummary(last)}\n` +
        `controller log, last lines:\n${controller.output().trimEnd().split('\n').slice(-15).join('\n')}`,
    );
  }
}

async function main(once: boolean): Promise<void> {
  // 1. Binaries.
  const bin = binaryStatus();
  if (!bin.cached && process.env['IMAGE_LOCALITY_KUBE_BIN_DIR']) {
    throw new DemoError(
      `IMAGE_LOCALITY_KUBE_BIN_DIR=${bin.dir} does not hold etcd, kube-apiserver and kube-scheduler; ` +
        'unset it to build them (once) into the cache',
    );
  }
  if (bin.cached) {
    progress(`control plane binaries: reusing ${bin.dir}`);
  } else {
    progress(`control plane binaries not built yet: building etcd, kube-apiserver and kube-scheduler from source into ${bin.dir}`);
    progress('this happens once and takes about 8 minutes on 2 cores (needs Go >= 1.26); build output follows');
    controlPlaneBinDir();
    progress('binaries built');
  }

  // 2. Control plane.
  progress('starting control plane (etcd, kube-apiserver, kube-scheduler)…');
  const cp: ControlPlane = await startControlPlane({
    log: (line) => {
      if (/ ready /.test(line)) progress(`  ${line}`);
    },
  });
  onCleanup('stop the control plane', () => cp.stop());
  checkpoint();
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const version = await kubernetesVersion(kc);
  progress(`control plane ${version} up at ${cp.server}`);

  // Warming needs the ImageCache CRD and a policy with warm.minNodes; both are in
  // place before the webhook starts, so it starts with warming fully on.
  progress('applying the ImageCache CRD (webhook-config/imagecache-crd.yaml)…');
  await applyImageCacheCrd(kc).catch((err: unknown) => {
    throw new DemoError((err as Error).message);
  });
  await setPolicy(kc.makeApiClient(CoreV1Api), WARM_POLICY);
  progress(`policy: ConfigMap ${POLICY_NAMESPACE}/${POLICY_CONFIGMAP} with warm.minNodes: ${WARM_MIN_NODES} (affinity at its defaults)`);
  checkpoint();

  // 3. Certificates and the webhook.
  const demoDir = mkdtempSync(join(tmpdir(), 'image-locality-demo-'));
  const removeDemoDir = (): void => rmSync(demoDir, { recursive: true, force: true });
  onCleanup('remove the demo temp dir', removeDemoDir);
  // Last resort should the process die some other way (the control plane and the
  // webhook child have exit hooks of their own).
  process.once('exit', removeDemoDir);
  const certDir = join(demoDir, 'certs');
  progress(`generating certificates: image-locality certs --out ${certDir} --ip 127.0.0.1 --dns localhost`);
  const certs = await makeCertificates(certDir);
  checkpoint();

  progress('starting the webhook: image-locality serve (watching the control plane)…');
  const webhook = await startWebhook({ kubeconfigPath: cp.kubeconfigPath, certs });
  // A copy of its output in a file, for `tail -f`; closed after the webhook has stopped.
  const logFile = join(demoDir, 'webhook.log');
  const logStream: WriteStream = createWriteStream(logFile);
  logStream.on('error', () => undefined);
  const copy = (d: Buffer): void => void (logStream.writableEnded || logStream.write(d));
  logStream.write(webhook.output());
  webhook.process.stdout?.on('data', copy);
  webhook.process.stderr?.on('data', copy);
  onCleanup('close the webhook log', () => new Promise<void>((r) => logStream.end(() => r())));
  onCleanup('stop the webhook', () => stopWebhook(webhook));
  try {
    await webhook.waitReady(60_000);
  } catch (err) {
    throw new DemoError(`the webhook did not become ready: ${(err as Error).message.split('\n')[0]}\n${webhook.output().trimEnd().split('\n').slice(-15).join('\n')}`);
  }
  const config = renderLocalWebhookConfiguration({ port: webhook.port, caBundle: certs.caBundle });
  await registerWebhook(kc, config);
  checkpoint();
  progress(`webhook ready on https://127.0.0.1:${webhook.port}, registered from webhook-config/mutating-webhook.yaml`);

  progress('starting the warming controller: image-locality controller (leader-elected)…');
  const controller = await startController({ kubeconfigPath: cp.kubeconfigPath });
  logStream.write(controller.output());
  controller.process.stdout?.on('data', copy);
  controller.process.stderr?.on('data', copy);
  onCleanup('stop the controller', () => stopWebhook(controller));
  try {
    await controller.waitReady(60_000);
  } catch (err) {
    throw new DemoError(`the controller did not become ready: ${(err as Error).message.split('\n')[0]}`);
  }
  checkpoint();

  // There is no kubelet: something has to run the pre-pull pods warming starts.
  const kubelet: FakeKubelet = await startFakeKubelet(kc, { pullMs: 400 });
  onCleanup('stop the stand-in kubelet', () => kubelet.stop());
  checkpoint();
  progress('this control plane has no kubelet: a stand-in plays its part for pre-pull pods (marks them done, adds the image to node status)');

  // 4. Nodes and namespaces.
  progress(`creating ${DEMO_NODES.length} nodes, namespace "${OPTED_IN}" (opted in) and namespace "${PLAIN}" (not)`);
  for (const node of DEMO_NODES) await createNode(kc, node);
  // (The webhook's own namespace, image-locality, came with the policy ConfigMap.)
  await createNamespace(kc, OPTED_IN, true);
  await createNamespace(kc, PLAIN, false);
  progress('waiting until the webhook has seen them (dry-run pods)…');
  for (const e of EXPECTED_PREFERENCES) await waitForInjectedNodes(kc, OPTED_IN, e.image, e.nodes);

  // 5. Pods, then the scheduler.
  checkpoint();
  // The nodes as the pods found them: warming starts adding images as soon as the
  // pods are admitted, and this first table is about what was there before.
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
  progress(`creating ${DEMO_PODS.length} pods and waiting for kube-scheduler to bind them…`);
  for (const pod of DEMO_PODS) await createPod(kc, pod);
  const refs = DEMO_PODS.map((p) => ({ namespace: p.metadata!.namespace!, name: p.metadata!.name! }));
  const bound = await waitForBinding(kc, refs, 30_000);
  const pods = refs.map((r) => bound.get(`${r.namespace}/${r.name}`)!);
  const reasons = await webhookReasons(webhook, DEMO_PODS);
  progress(`all pods bound (${((Date.now() - t0) / 1000).toFixed(1)} s in all)`);

  // 6. The result, on stdout.
  const out = (s = ''): void => void process.stdout.write(s + '\n');
  const indent = (s: string): string => s.replace(/^(?=.)/gm, '  ');
  out();
  out(`Nodes (API objects; status.images is what a kubelet would report):`);
  out();
  out(indent(formatNodes(nodes)));
  out();
  out(`Pods (namespace "${OPTED_IN}" is opted in with image-locality.dev/enabled: "true"; "${PLAIN}" is not).`);
  out('PREFERENCE INJECTED: the preferred node-affinity terms image-locality added, as node:weight.');
  out();
  out(indent(formatPods(pods, nodes, reasons)));
  out();

  // 7. Warming: the cold images of the pods above, and a cache an operator declares.
  checkpoint();
  const custom = kc.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({
    ...IC,
    namespace: BASE_CACHE.namespace,
    body: {
      apiVersion: `${IC.group}/${IC.version}`,
      kind: 'ImageCache',
      metadata: { name: BASE_CACHE.name, namespace: BASE_CACHE.namespace },
      spec: BASE_CACHE.spec,
    },
  });
  const pool = `${BASE_POOL.key}=${BASE_POOL.value}`;
  const poolNodes = DEMO_NODES.filter((n) => n.labels?.[BASE_POOL.key] === BASE_POOL.value).map((n) => n.name);
  progress(`created ImageCache ${BASE_CACHE.namespace}/${BASE_CACHE.name} (${NGINX} on nodes labelled ${pool}: ${joinNames(poolNodes)})`);
  progress(`waiting (up to ${WARM_TIMEOUT_MS / 1000} s) until ${API} is on ${WARM_MIN_NODES} nodes and every ImageCache is cached…`);
  const warmed = await waitForWarming(kc, controller);
  checkpoint();
  progress(`waiting until the webhook steers ${API} to ${joinNames(warmed.apiNodes)} (dry-run pods)…`);
  try {
    await waitForInjectedNodes(kc, OPTED_IN, API, warmed.apiNodes, 30_000);
  } catch (err) {
    throw new DemoError(`the webhook did not pick up the warmed nodes: ${(err as Error).message}`);
  }
  checkpoint();
  progress(`creating pod ${API_REPLICA.metadata!.name} (another replica of api) and waiting for kube-scheduler to bind it…`);
  await createPod(kc, API_REPLICA);
  const replicaRef = { namespace: API_REPLICA.metadata!.namespace!, name: API_REPLICA.metadata!.name! };
  const replica = (await waitForBinding(kc, [replicaRef], 30_000)).get(`${replicaRef.namespace}/${replicaRef.name}`)!;
  const nodesNow = (await kc.makeApiClient(CoreV1Api).listNode()).items;
  const replicaReasons = await webhookReasons(webhook, [replica]);
  progress(`${replicaRef.name} bound (${((Date.now() - t0) / 1000).toFixed(1)} s in all)`);

  const podsNeeding = (image: string): string[] =>
    DEMO_PODS.filter((p) => p.metadata!.namespace === OPTED_IN && p.spec!.containers.some((c) => fullImageName(c.image!) === image)).map(
      (p) => p.metadata!.name!,
    );
  const pulledOn = (image: string): string[] =>
    kubelet.pulls.filter((p) => fullImageName(p.image) === fullImageName(image)).map((p) => p.node);
  out();
  out(`Cache warming. The policy sets warm.minNodes: ${WARM_MIN_NODES}: every image an admitted pod needs should be on`);
  out(`at least ${WARM_MIN_NODES} nodes that pod may use (Ready, not cordoned). Pod "api" above was cold, and "trainer"'s`);
  out(`image was on only one such node, so the controller (it watches pods not yet scheduled) recorded`);
  out(`their demand as ImageCaches (demand-*) and pulled the images. ${BASE_CACHE.namespace}/${BASE_CACHE.name} is declared`);
  out(`as an operator would: ${NGINX} on every node labelled ${pool} (${joinNames(poolNodes)}).`);
  out(`This control plane has no kubelet: a stand-in plays its part for the pre-pull pods (it marks them`);
  out(`done and adds the image to the node's status.images).`);
  out();
  out('ImageCaches (as `kubectl get ic -A` lists them, plus the image and where each came from):');
  out();
  out(indent(formatCaches(warmed.caches, podsNeeding)));
  out();
  out(`State per node, from each cache's status. cordoned: selected, but cordoned nodes get no pulls;`);
  out(`-: not a target (a demand cache wants ${WARM_MIN_NODES} nodes, those already holding the image first);`);
  out('PULLED ON: where a pre-pull pod fetched the image (the other cached nodes held it already).');
  out();
  out(indent(formatCacheNodes(warmed.caches, warmed.nodes, pulledOn)));
  out();
  out(`Pod "api" got no preference (its image was on no node). A new replica, created after warming:`);
  out();
  out(indent(formatPods([replica], nodesNow, replicaReasons, { tally: false })));
  out();
  if (once) return;

  // 8. Stay up.
  phase = 'running';
  const holdsTrainer = nodesNow.filter((n) => nodeImageKeys(n).has(fullImageName(TRAINER.image)));
  const trainerNodes = holdsTrainer.filter((n) => !n.spec?.unschedulable).map((n) => n.metadata!.name!).sort();
  const trainerCordoned = holdsTrainer.filter((n) => n.spec?.unschedulable).map((n) => n.metadata!.name!).sort();
  const caFile = join(certDir, 'ca.crt');
  /** Shell lines; a comment goes on its own line above its command. */
  const commands = (rows: Array<[string, string?]>): void => {
    for (const [cmd, comment] of rows) {
      if (comment) out(`  # ${comment}`);
      out(`  ${cmd}`);
    }
  };
  out('The cluster stays up until you press Ctrl-C. To look around, if you have kubectl:');
  out();
  commands([
    [`export KUBECONFIG=${cp.kubeconfigPath}`],
    ['kubectl get nodes'],
    ['kubectl get pods -A -o wide'],
    [`kubectl get pod web -n ${OPTED_IN} -o jsonpath='{.spec.affinity}{"\\n"}'`, 'what the webhook injected into pod "web"'],
    [
      `kubectl run try-me -n ${OPTED_IN} --image=${TRAINER.image}`,
      `a new pod of the ML image lands on ${trainerNodes.join(' or ')}` +
        (trainerCordoned.length > 0 ? ` (${joinNames(trainerCordoned)} ${trainerCordoned.length === 1 ? 'holds' : 'hold'} it too, but cordoned)` : ''),
    ],
    [`kubectl get pod try-me -n ${OPTED_IN} -o wide`],
    ...trainerCordoned.map((n): [string, string] => [`kubectl uncordon ${n}`, `after this, new pods of that image prefer ${joinNames([...trainerNodes, n])}`]),
    [`kubectl annotate namespace ${PLAIN} image-locality.dev/enabled=true`, `opt namespace "${PLAIN}" in`],
    ['kubectl get ic -A', 'the ImageCaches (NODES: cached/wanted)'],
    [`kubectl get ic ${BASE_CACHE.name} -n ${BASE_CACHE.namespace} -o yaml`, `per-node status of ${BASE_CACHE.name}`],
    [`kubectl label node node-6 ${pool}`, `node-6 joins the pool: ${BASE_CACHE.name} warms it too (the stand-in kubelet keeps running)`],
    [
      `kubectl patch configmap ${POLICY_CONFIGMAP} -n ${POLICY_NAMESPACE} --type merge -p '{"data":{"policy.yaml":"warm: {minNodes: ${WARM_MIN_NODES}}\\naffinity: {mode: required}"}}'`,
      'policy: require a node holding the image instead of preferring one',
    ],
  ]);
  out();
  out('Without kubectl:');
  out();
  commands([
    [`tail -f ${logFile}`, 'the webhook\'s and the controller\'s log: one JSON line per admission decision and per warming step'],
    [`curl -s --cacert ${caFile} https://127.0.0.1:${webhook.port}/metrics | grep -E '^image_locality_(mutations|warm)'`, 'its metrics'],
  ]);
  out();

  // Watch our children while we wait: a dead component makes the demo pointless.
  await new Promise<void>((_, reject) => {
    const timer = setInterval(() => {
      if (signalled) return;
      if (webhook.process.exitCode !== null || webhook.process.signalCode !== null) {
        clearInterval(timer);
        reject(new DemoError(`the webhook exited (${webhook.process.exitCode ?? webhook.process.signalCode}); last lines:\n${webhook.output().trimEnd().split('\n').slice(-15).join('\n')}`));
      }
      const dead = cp.processes.find((p) => !isRunning(p));
      if (dead) {
        clearInterval(timer);
        reject(new DemoError(`${dead.name} stopped unexpectedly; last lines of its log:\n${tailOf(dead.logFile)}`));
      }
    }, 1000);
  });
}

let once: boolean;
let realNodes = false;
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      once: { type: 'boolean', default: false },
      'real-nodes': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  once = values.once;
  realNodes = values['real-nodes'];
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

// Whatever escapes (a stream error, a bug): say so, clean up, exit non-zero.
let failing = false;
async function fail(err: unknown): Promise<void> {
  if (signalled || failing) return; // already on the way out
  failing = true;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`\ndemo failed: ${message}\n`);
  await cleanup();
  process.exit(1);
}
process.on('uncaughtException', (err) => void fail(err));
process.on('unhandledRejection', (err) => void fail(err));

if (realNodes) {
  // Its own lab, with its own cleanup (on exit and on signals).
  const { runRealNodeDemo } = await import('./demo-real-nodes.js');
  process.exit(await runRealNodeDemo({ once }));
}

main(once).then(
  async () => {
    await cleanup();
    progress('done; control plane and webhook stopped, temp files removed');
    process.exit(0);
  },
  // After a signal the signal handler is cleaning up and will exit.
  (err: unknown) => fail(err),
);
