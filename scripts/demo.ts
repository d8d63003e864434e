// `npm run demo [-- --once]`: image-locality against a real, local Kubernetes
// control plane, for a person to watch. Builds (first time) or reuses the control
// plane binaries, starts etcd + kube-apiserver + kube-scheduler, makes certificates
// with `image-locality certs`, starts `image-locality serve`, registers it from the
// shipped manifest, creates nodes that hold different images and a few pods, waits
// for the scheduler and prints where everything went. Then it stays up for poking
// around until Ctrl-C (or exits at once with --once). Whatever happens, the
// control plane, the webhook and the temp dirs are removed on the way out.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import {
  controlPlaneBinDir,
  isRunning,
  repoRoot,
  startControlPlane,
  type ControlPlane,
} from '../test/e2e/control-plane/control-plane.js';
import { createNamespace, createNode, createPod, eventually } from '../test/e2e/support/cluster-objects.js';
import { TRAINER, kubernetesVersion, waitForBinding, waitForInjectedNodes } from '../test/e2e/support/placement.js';
import { registerWebhook, renderLocalWebhookConfiguration } from '../test/e2e/support/register.js';
import { makeCertificates, startWebhook, type RunningWebhook } from '../test/e2e/support/webhook-process.js';
import { DEMO_NODES, DEMO_PODS, EXPECTED_PREFERENCES, OPTED_IN, PLAIN, formatNodes, formatPods } from './demo-scene.js';

const USAGE = `Usage: npm run demo [-- --once]

Runs image-locality against a real local Kubernetes control plane (etcd,
kube-apiserver, kube-scheduler; no kubelet, nodes are API objects), creates
nodes holding different images and a few pods, and shows where the scheduler
put them. Stays up for you to look around until Ctrl-C.

  --once      exit right after printing the result
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
  const cached = ['etcd', 'kube-apiserver', 'kube-scheduler'].every((b) => existsSync(join(dir!, b)));
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
  onCleanup('stop the webhook', () => webhook.stop());
  try {
    await webhook.waitReady(60_000);
  } catch (err) {
    throw new DemoError(`the webhook did not become ready: ${(err as Error).message.split('\n')[0]}\n${webhook.output().trimEnd().split('\n').slice(-15).join('\n')}`);
  }
  const config = renderLocalWebhookConfiguration({ port: webhook.port, caBundle: certs.caBundle });
  await registerWebhook(kc, config);
  checkpoint();
  progress(`webhook ready on https://127.0.0.1:${webhook.port}, registered from webhook-config/mutating-webhook.yaml`);

  // 4. Nodes and namespaces.
  progress(`creating ${DEMO_NODES.length} nodes, namespace "${OPTED_IN}" (opted in) and namespace "${PLAIN}" (not)`);
  for (const node of DEMO_NODES) await createNode(kc, node);
  // The webhook's own namespace, where its policy ConfigMap would live.
  await createNamespace(kc, 'image-locality', false);
  await createNamespace(kc, OPTED_IN, true);
  await createNamespace(kc, PLAIN, false);
  progress('waiting until the webhook has seen them (dry-run pods)…');
  for (const e of EXPECTED_PREFERENCES) await waitForInjectedNodes(kc, OPTED_IN, e.image, e.nodes);

  // 5. Pods, then the scheduler.
  checkpoint();
  progress(`creating ${DEMO_PODS.length} pods and waiting for kube-scheduler to bind them…`);
  for (const pod of DEMO_PODS) await createPod(kc, pod);
  const refs = DEMO_PODS.map((p) => ({ namespace: p.metadata!.namespace!, name: p.metadata!.name! }));
  const bound = await waitForBinding(kc, refs, 30_000);
  const pods = refs.map((r) => bound.get(`${r.namespace}/${r.name}`)!);
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items;
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
  if (once) return;

  // 7. Stay up.
  phase = 'running';
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
    [`kubectl run try-me -n ${OPTED_IN} --image=${TRAINER.image}`, 'a new pod of the ML image lands on node-3 (node-4 holds it too, but is cordoned)'],
    [`kubectl get pod try-me -n ${OPTED_IN} -o wide`],
    ['kubectl uncordon node-4', 'after this, new pods of that image prefer node-3 and node-4'],
    [`kubectl annotate namespace ${PLAIN} image-locality.dev/enabled=true`, `opt namespace "${PLAIN}" in`],
    [
      `kubectl create configmap image-locality-policy -n image-locality --from-literal=policy.yaml='affinity: {mode: required}'`,
      'policy: require a node holding the image instead of preferring one',
    ],
  ]);
  out();
  out('Without kubectl:');
  out();
  commands([
    [`tail -f ${logFile}`, 'the webhook\'s log: one JSON line per admission decision'],
    [`curl -s --cacert ${caFile} https://127.0.0.1:${webhook.port}/metrics | grep ^image_locality_mutations`, 'its metrics'],
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
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { once: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  once = values.once;
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

main(once).then(
  async () => {
    await cleanup();
    progress('done; control plane and webhook stopped, temp files removed');
    process.exit(0);
  },
  // After a signal the signal handler is cleaning up and will exit.
  (err: unknown) => fail(err),
);
