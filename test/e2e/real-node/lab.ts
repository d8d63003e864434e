// A lab of real nodes on this machine: one network namespace made for the run, a
// control plane and two registries inside it, and per node a containerd and a
// kubelet, all as real processes. The test process stays outside and talks to the
// apiserver through the namespace bridge (netns.ts). Everything the lab changes on
// the machine is recorded first and undone at stop, at exit, on a signal, or by the
// next lab / `npm run lab:clean` after a crash (host-state.ts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { KUBERNETES_SERVICE_IP, startControlPlane, type ControlPlane } from '../control-plane/control-plane.js';
import { createPodBridge, startContainerd, cniNetworkName, type Containerd } from './containerd.js';
import { machineBefore, recoverAbandonedLab, undoLab, writeState, type HostState } from './host-state.js';
import { buildImage, copyToRegistry, IMAGE_TAG, layoutLayerBytes, pushImage, type ImageRecipe } from './images.js';
import { startKubelet, type Kubelet } from './kubelet.js';
import { createNetns, netnsWrap, startBridge, type Bridge } from './netns.js';
import { sleep, spawnInLab, waitFor } from './procs.js';
import { startRegistry } from './registry.js';
import { kubeletBinary } from './requirements.js';

export const LAB_NETNS = 'image-locality-lab';
export const DEFAULT_BANDWIDTH_MB_PER_S = 50;
/** Where images say they come from; the lab's containerds map these hosts to the throttled links. */
export const PUBLIC_REGISTRY = '127.0.0.1:5000';
export const PRIVATE_REGISTRY = '127.0.0.1:5001';
const PUBLIC_PORT = 5100;
const PRIVATE_PORT = 5101;
const LINK_PORT_BASE = 5200;
const PRIVATE_CREDENTIALS = { username: 'lab-user', password: 'lab-password' };

const here = path.dirname(fileURLToPath(import.meta.url));

export interface LabNode {
  name: string;
  address: string;
  containerd: Containerd;
  kubelet: Kubelet;
}

export interface LabImage {
  ref: string;
  /** Compressed bytes a pull transfers. */
  bytes: number;
}

/** The images every lab pushes; `large` ones come from LabOptions. */
export const STANDARD_IMAGES = {
  shell: { repository: 'lab/shell', kind: 'shell' },
  shellLess: { repository: 'lab/shell-less', kind: 'shell-less' },
  scratch: { repository: 'lab/scratch', kind: 'scratch' },
  private: { repository: 'lab/private', kind: 'private', private: true },
  pause: { repository: 'lab/pause', kind: 'pause' },
  helper: { repository: 'lab/image-locality-helper', kind: 'helper' },
} satisfies Record<string, ImageRecipe>;

export type StandardImage = keyof typeof STANDARD_IMAGES;

export interface LabOptions {
  nodes?: number;
  /** Pull bandwidth of each node's link to the registry; env IMAGE_LOCALITY_LAB_MB_PER_S, default 50. */
  megabytesPerSecond?: number;
  /** Large images to build and push, by name. */
  large?: Record<string, { layers: number; layerBytes: number }>;
  /**
   * What an install that runs in the cluster needs and a bare lab lacks: Deployments
   * that make pods, Services with endpoints, pods with a service account token, and a
   * way from pods to the apiserver. See IN_CLUSTER_CONTROLLERS and startLab.
   */
  inCluster?: boolean;
  log?: (line: string) => void;
}

/**
 * kube-controller-manager's controllers for an in-cluster lab, each for a reason:
 * Deployment -> ReplicaSet -> pods; EndpointSlices, through which the apiserver finds
 * a webhook Service's pods; the `default` ServiceAccount the ServiceAccount admission
 * plugin waits for; kube-root-ca.crt, which every pod's token volume mounts; and the
 * garbage collector and namespace controller, without which an uninstall would leave
 * ReplicaSets, pods and a Terminating namespace behind.
 */
export const IN_CLUSTER_CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'endpointslice-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'garbage-collector-controller',
  'namespace-controller',
];
/** The `kubernetes` Service's port: what pods find in KUBERNETES_SERVICE_PORT. */
const KUBERNETES_SERVICE_PORT = 443;

export interface Lab {
  dir: string;
  netns: string;
  wrap: string[];
  cp: ControlPlane;
  /** Admin kubeconfig for processes outside the lab (through the bridge). */
  kubeconfigPath: string;
  kc: KubeConfig;
  bridge: Bridge;
  nodes: LabNode[];
  images: Record<StandardImage, LabImage> & Record<string, LabImage>;
  privateCredentials: { username: string; password: string };
  megabytesPerSecond: number;
  /** Copies the lab's logs to a directory that outlives the lab; returns it. */
  keepLogs(): string;
  /** Removes an image from one node's runtime, as the kubelet's image GC would. */
  removeImage(node: string, ref: string): void;
  /**
   * Pushes an image from another transport (e.g. `containers-storage:...`) into the
   * open registry as `repository:tag`; returns the reference nodes pull it by.
   */
  pushImage(source: string, repository: string, tag: string): string;
  stop(): Promise<void>;
}

function bandwidthFromEnv(): number {
  const v = Number(process.env['IMAGE_LOCALITY_LAB_MB_PER_S']);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_BANDWIDTH_MB_PER_S;
}

function hostKubeconfig(server: string, caPem: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'admin' } }],
    'current-context': 'lab',
  });
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

let active: HostState | undefined;
let handlersInstalled = false;

function undoActive(): void {
  if (!active) return;
  const state = active;
  active = undefined;
  const problems = undoLab(state);
  if (problems.length > 0) process.stderr.write(`real-node lab teardown left: ${problems.join('; ')}\n`);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', undoActive);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(sig, () => {
      undoActive();
      process.exit(code);
    });
  }
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const log = opts.log ?? ((): void => {});
  const nodeCount = opts.nodes ?? 3;
  const megabytesPerSecond = opts.megabytesPerSecond ?? bandwidthFromEnv();
  recoverAbandonedLab(log);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'image-locality-lab-'));
  const logDir = path.join(dir, 'logs');
  fs.mkdirSync(logDir);
  const inCluster = opts.inCluster ?? false;
  const names = Array.from({ length: nodeCount }, (_, i) => `lab-node-${i + 1}`);
  const addresses = names.map((_, i) => `10.250.0.${11 + i}`);
  const state: HostState = {
    pid: process.pid,
    dir,
    netns: LAB_NETNS,
    cgroups: names.map((_, i) => `/image-locality-lab-${i + 1}`),
    cniNetworks: names.map((_, i) => cniNetworkName(i + 1)),
    ...machineBefore(),
  };
  writeState(state);
  active = state;
  installHandlers();
  const t0 = Date.now();
  const since = (): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

  try {
    // In-cluster, the `kubernetes` ClusterIP is an address of the namespace itself (see below).
    createNetns(LAB_NETNS, inCluster ? [...addresses, KUBERNETES_SERVICE_IP] : addresses);
    names.forEach((_, i) => createPodBridge(LAB_NETNS, i + 1));
    const wrap = netnsWrap(LAB_NETNS);
    const bridge = await startBridge({ wrap, dir, logDir, relayScript: path.join(here, 'relay.js') });

    const nodeTokens = names.map((name) => ({ token: randomBytes(24).toString('hex'), user: `system:node:${name}`, groups: ['system:nodes'] }));
    const cp = await startControlPlane({
      dir: path.join(dir, 'control-plane'),
      netns: { wrap, connect: bridge.connect },
      extraTokens: nodeTokens,
      extraApiserverArgs: [
        // kubectl logs/exec: the node's InternalIP, never a name lookup (that would leave the lab).
        '--kubelet-preferred-address-types=InternalIP',
        // No kube-proxy routes a Service's ClusterIP: the apiserver calls a webhook
        // Service at one of its EndpointSlice addresses (a pod IP on a node's bridge).
        ...(inCluster ? ['--enable-aggregator-routing=true'] : []),
      ],
      // Pods get a service account token (in-cluster clients need one).
      serviceAccountAdmission: inCluster,
      ...(inCluster ? { controllerManager: { controllers: IN_CLUSTER_CONTROLLERS } } : {}),
    });
    const apiPort = Number(new URL(cp.server).port);
    if (inCluster) {
      // Pods reach the apiserver the way in-cluster clients look for it, at the
      // `kubernetes` Service (KUBERNETES_SERVICE_HOST/PORT, which the kubelet sets).
      // Without kube-proxy that ClusterIP leads nowhere, so the lab owns it: the
      // address is on the namespace's loopback, pods route it through their node's
      // bridge, and this forwarder passes the bytes to the apiserver. TLS runs end to
      // end: the apiserver's certificate names the ClusterIP.
      const vip = spawnInLab('kubernetes-service', process.execPath, [path.join(here, 'relay.js'), 'forward', `${KUBERNETES_SERVICE_IP}:${KUBERNETES_SERVICE_PORT}`, String(apiPort), `--lab=${dir}`], {
        wrap,
        logDir,
        stdinPipe: true,
      });
      await waitFor(vip, 'kubernetes Service forwarder', 30_000, () => fs.readFileSync(vip.logFile, 'utf8').includes('listening'));
    }
    const hostPort = await bridge.forward(apiPort);
    const kubeconfigPath = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfigPath, hostKubeconfig(`https://127.0.0.1:${hostPort}`, cp.caPem, cp.token), { mode: 0o600 });
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    log(`control plane ready inside ${LAB_NETNS} (${since()})`);

    await startRegistry({ name: 'public', dir, logDir, wrap, connect: bridge.connect, port: PUBLIC_PORT });
    await startRegistry({
      name: 'private',
      dir,
      logDir,
      wrap,
      connect: bridge.connect,
      port: PRIVATE_PORT,
      credentials: PRIVATE_CREDENTIALS,
    });
    const routes = [...names.map((_, i) => `${LINK_PORT_BASE + i + 1}:${PUBLIC_PORT}`), `${PRIVATE_REGISTRY.split(':')[1]}:${PRIVATE_PORT}`];
    const throttle = spawnInLab('throttle', process.execPath, [path.join(here, 'throttle-main.js'), String(megabytesPerSecond * 1e6), ...routes, `--lab=${dir}`], {
      wrap,
      logDir,
      stdinPipe: true,
    });
    await waitFor(throttle, 'bandwidth limiter', 30_000, () => fs.readFileSync(throttle.logFile, 'utf8').includes('listening'));
    log(`registries and ${megabytesPerSecond} MB/s links ready (${since()})`);

    const recipes: Record<string, ImageRecipe> = { ...STANDARD_IMAGES };
    for (const [name, l] of Object.entries(opts.large ?? {})) recipes[name] = { repository: `lab/${name}`, kind: 'large', ...l };
    const images: Record<string, LabImage> = {};
    for (const [name, recipe] of Object.entries(recipes)) {
      const layout = buildImage(recipe, log);
      pushImage(layout, recipe.repository, {
        wrap,
        registry: `127.0.0.1:${recipe.private ? PRIVATE_PORT : PUBLIC_PORT}`,
        ...(recipe.private ? { credentials: PRIVATE_CREDENTIALS } : {}),
      });
      images[name] = { ref: `${recipe.private ? PRIVATE_REGISTRY : PUBLIC_REGISTRY}/${recipe.repository}:${IMAGE_TAG}`, bytes: layoutLayerBytes(layout) };
    }
    log(`images pushed (${since()})`);

    const kubelet = kubeletBinary();
    const nodes: LabNode[] = await Promise.all(
      names.map(async (name, i) => {
        const containerd = await startContainerd({
          node: name,
          index: i + 1,
          dir,
          logDir,
          wrap,
          sandboxImage: images['pause']!.ref,
          podRoutes: inCluster ? [`${KUBERNETES_SERVICE_IP}/32`] : [],
          mirrors: {
            [PUBLIC_REGISTRY]: `http://127.0.0.1:${LINK_PORT_BASE + i + 1}`,
            [PRIVATE_REGISTRY]: `http://${PRIVATE_REGISTRY}`,
          },
        });
        const k = startKubelet({
          node: name,
          index: i + 1,
          address: addresses[i]!,
          dir,
          logDir,
          wrap,
          binary: kubelet,
          server: cp.server,
          caPem: cp.caPem,
          token: nodeTokens[i]!.token,
          containerdSocket: containerd.socket,
          cgroup: state.cgroups[i]!,
        });
        return { name, address: addresses[i]!, containerd, kubelet: k };
      }),
    );
    const core = kc.makeApiClient(CoreV1Api);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const dead = nodes.find((n) => n.kubelet.process.exited() || n.containerd.process.exited());
      if (dead) {
        const p = dead.kubelet.process.exited() ? dead.kubelet.process : dead.containerd.process;
        await waitFor(p, dead.name, 0, () => false);
      }
      const listed = (await core.listNode()).items;
      if (names.every((n) => listed.some((l) => l.metadata?.name === n && isReady(l)))) break;
      if (Date.now() > deadline) throw new Error(`lab nodes not Ready after 180 s; logs in ${logDir}`);
      await sleep(500);
    }
    log(`${nodeCount} nodes Ready (${since()})`);

    let stopped = false;
    return {
      dir,
      netns: LAB_NETNS,
      wrap,
      cp,
      kubeconfigPath,
      kc,
      bridge,
      nodes,
      images: images as Lab['images'],
      privateCredentials: PRIVATE_CREDENTIALS,
      megabytesPerSecond,
      keepLogs() {
        const kept = `${dir}-logs`;
        fs.cpSync(logDir, kept, { recursive: true });
        // The apiserver's and controller-manager's logs say why a webhook call or a pod failed.
        fs.cpSync(path.join(cp.dir, 'logs'), path.join(kept, 'control-plane'), { recursive: true });
        return kept;
      },
      removeImage(node, ref) {
        const n = nodes.find((x) => x.name === node);
        if (!n) throw new Error(`no lab node ${node}`);
        // The CRI keeps several names for one image (tag, repo@digest, sha256:id); the
        // kubelet lists an image while any of them is left, so remove all of them.
        const rows = n.containerd.ctr(['images', 'ls']).trim().split('\n').slice(1).map((l) => l.split(/\s+/));
        const digest = rows.find((r) => r[0] === ref)?.[2];
        const refs = rows.filter((r) => r[0] === ref || (digest !== undefined && r[2] === digest)).map((r) => r[0]!);
        if (refs.length === 0) throw new Error(`${node} does not hold ${ref}`);
        n.containerd.ctr(['images', 'rm', '--sync', ...refs]);
      },
      pushImage(source, repository, tag) {
        copyToRegistry(source, `${repository}:${tag}`, { wrap, registry: `127.0.0.1:${PUBLIC_PORT}` });
        return `${PUBLIC_REGISTRY}/${repository}:${tag}`;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        bridge.close();
        undoActive();
        await cp.stop();
      },
    };
  } catch (err) {
    const keep = process.env['IMAGE_LOCALITY_KEEP_LAB_LOGS'] === '1';
    if (keep) fs.cpSync(logDir, `${dir}-logs`, { recursive: true });
    undoActive();
    throw err;
  }
}
