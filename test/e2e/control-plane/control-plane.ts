// A real, local Kubernetes control plane (etcd + kube-apiserver + kube-scheduler)
// for end-to-end tests and the demo. The binaries come from build.sh (built from
// the pinned k8s.io/kubernetes Go module and cached outside the repo); this module
// only runs them on 127.0.0.1 with throw-away state.
//
// By default there is no kubelet and no kube-controller-manager: nodes are plain API
// objects that tests create and whose status they patch. Because of that two
// admission plugins are disabled by default (see README.md):
//   - ServiceAccount: it rejects pods whose `default` ServiceAccount does not exist,
//     and nothing creates it without the controller-manager.
//   - TaintNodesByCondition: it adds node.kubernetes.io/not-ready:NoSchedule to
//     every new Node, and nothing would ever remove it (no node lifecycle controller).
// The real-node lab asks for kube-controller-manager with a few controllers
// (`controllerManager`), so that Deployments make pods and Services get endpoints.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-scheduler' | 'kube-controller-manager';

/** One started component; enough to find and kill it from another process (down.ts). */
export interface ProcessRecord {
  name: ComponentName;
  pid: number;
  /** Absolute path of the binary, used to make sure a pid was not reused before killing it. */
  bin: string;
  /** Combined stdout/stderr of the component. */
  logFile: string;
}

export interface ControlPlane {
  /** Admin kubeconfig (token user in system:masters, apiserver CA embedded). */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** State dir: etcd data, pki, logs, kubeconfig. Removed by stop(). */
  dir: string;
  /** Bearer token of the admin user (same as in the kubeconfig). */
  token: string;
  /** PEM of the CA(s) that verify the apiserver's serving certificate. */
  caPem: string;
  /** http://127.0.0.1:PORT */
  etcdEndpoint: string;
  processes: ProcessRecord[];
  /**
   * Stop kube-apiserver and start it again with the same flags (same port, certs
   * and etcd); resolves once /readyz is OK. `whileDown` runs in between. Clients
   * see their watches break, as in an apiserver upgrade.
   */
  restartApiserver(whileDown?: () => Promise<void>): Promise<void>;
  /** SIGTERM all components (SIGKILL after a grace period) and remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** State dir; default a fresh dir under os.tmpdir(). Created if missing. */
  dir?: string;
  /** Progress lines (which component, ports, readiness). Default: silent. */
  log?: (line: string) => void;
  /** Start kube-scheduler too (default true). */
  scheduler?: boolean;
  /**
   * Detached: components get their own session and outlive this Node process
   * (used by up.ts; stop them with stopProcesses/down.ts). Attached (default):
   * they are killed when this process exits or is interrupted.
   */
  detached?: boolean;
  /**
   * Keep the ServiceAccount admission plugin enabled. Then every namespace needs
   * a `default` ServiceAccount before pods can be created there (nothing creates
   * it: there is no controller-manager). Default false.
   */
  serviceAccountAdmission?: boolean;
  /** Extra kube-apiserver flags, e.g. ['--v=4']. */
  extraApiserverArgs?: string[];
  /** Overall readiness budget per component in ms (default 120000; slow first start on 2 cores). */
  readyTimeoutMs?: number;
  /** Keep `dir` on stop() (for post-mortem). Also enabled by env IMAGE_LOCALITY_KEEP_CLUSTER_DIR=1. */
  keepDir?: boolean;
  /**
   * Run every component inside a network namespace (the real-node lab): `wrap` is
   * the command prefix that enters it, `connect` dials 127.0.0.1:port inside it for
   * the readiness probes. Addresses in the result are then the namespace's own.
   */
  netns?: NamespaceAccess;
  /** More static tokens for the apiserver, e.g. one `system:node:NAME` per kubelet. */
  extraTokens?: StaticToken[];
  /**
   * Run kube-controller-manager with only these controllers (its own names, e.g.
   * 'deployment-controller'); resolves once its /healthz is OK. Default: not run.
   * It publishes the apiserver's CA as kube-root-ca.crt in every namespace.
   */
  controllerManager?: { controllers: string[] };
}

export interface NamespaceAccess {
  wrap: string[];
  connect(port: number): net.Socket;
}

export interface StaticToken {
  token: string;
  user: string;
  groups: string[];
}

export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
/** The `kubernetes` Service's ClusterIP (the range's first address); the apiserver's self-signed certificate names it. */
export const KUBERNETES_SERVICE_IP = '10.0.0.1';
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const ADMIN_USER = 'image-locality-admin';
const LOG_TAIL_LINES = 40;

// ---------------------------------------------------------------- binaries

/** Walk up from this file (src or dist layout) to the repo root holding build.sh. */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (
      fs.existsSync(path.join(dir, 'package.json')) &&
      fs.existsSync(path.join(dir, 'test', 'e2e', 'control-plane', 'build.sh'))
    ) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('control-plane: cannot find repo root (test/e2e/control-plane/build.sh)');
    dir = parent;
  }
}

export function repoRoot(): string {
  return findRepoRoot();
}

function buildScript(): string {
  return path.join(findRepoRoot(), 'test', 'e2e', 'control-plane', 'build.sh');
}

const BINARIES = ['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager'] as const;

function haveBinaries(dir: string): boolean {
  return BINARIES.every((b) => {
    try {
      fs.accessSync(path.join(dir, b), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Directory holding etcd, kube-apiserver, kube-scheduler and kube-controller-manager. Runs build.sh when
 * they are missing (the first build takes many minutes; progress goes to stderr).
 * IMAGE_LOCALITY_KUBE_BIN_DIR overrides the location (prebuilt binaries).
 */
export function controlPlaneBinDir(): string {
  const override = process.env['IMAGE_LOCALITY_KUBE_BIN_DIR'];
  if (override) {
    if (!haveBinaries(override)) {
      throw new Error(`IMAGE_LOCALITY_KUBE_BIN_DIR=${override} lacks one of ${BINARIES.join(', ')}`);
    }
    return override;
  }
  const script = buildScript();
  const printed = spawnSync('bash', [script, '--print-bin-dir'], { encoding: 'utf8' });
  if (printed.status !== 0) throw new Error(`${script} --print-bin-dir failed: ${printed.stderr}`);
  const binDir = printed.stdout.trim();
  if (haveBinaries(binDir)) return binDir;
  // Build output goes to our stderr so callers that print machine-readable
  // stdout (up.ts prints `export KUBECONFIG=...`) are not polluted.
  const built = spawnSync('bash', [script], { stdio: ['ignore', 2, 2] });
  if (built.status !== 0) throw new Error(`${script} failed with status ${built.status ?? built.signal}`);
  if (!haveBinaries(binDir)) throw new Error(`${script} succeeded but binaries are missing in ${binDir}`);
  return binDir;
}

// ---------------------------------------------------------- process control

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // kill(pid, 0) succeeds on zombies; when nobody reaps (no init in a container)
  // a dead component would look alive forever.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    // No /proc (non-Linux) or the process just vanished: trust kill(0).
  }
  return true;
}

/** Guard against pid reuse: only signal a pid whose command line still names our binary. */
function isOurs(rec: ProcessRecord): boolean {
  if (!isAlive(rec.pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
    return cmdline.includes(rec.bin);
  } catch {
    return true; // No /proc: cannot check, assume ours.
  }
}

/** True when the recorded component still runs (and the pid was not reused). */
export function isRunning(rec: ProcessRecord): boolean {
  return isOurs(rec);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM the given processes (scheduler and apiserver before etcd, so the
 * apiserver does not spin on a vanished storage backend), SIGKILL whatever is
 * still alive after `graceMs`. Works for processes started by another Node
 * process too (down.ts).
 */
export async function stopProcesses(records: ProcessRecord[], graceMs = 10_000): Promise<void> {
  const order: ComponentName[] = ['kube-controller-manager', 'kube-scheduler', 'kube-apiserver', 'etcd'];
  const sorted = [...records].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  for (const rec of sorted) {
    if (!isOurs(rec)) continue;
    signal(rec.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(rec.pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(rec.pid)) {
      signal(rec.pid, 'SIGKILL');
      const killDeadline = Date.now() + 5_000;
      while (isAlive(rec.pid) && Date.now() < killDeadline) await sleep(50);
    }
  }
}

// Attached control planes still running in this process. On exit/interrupt they
// are SIGKILLed synchronously (no time for graceful shutdown; the state is
// throw-away) and their dirs removed.
interface Live {
  records: ProcessRecord[];
  dir: string;
  removeDir: boolean;
}
const live = new Set<Live>();
let handlersInstalled = false;

function killLiveNow(): void {
  for (const l of live) {
    for (const r of l.records) if (isOurs(r)) signal(r.pid, 'SIGKILL');
    if (l.removeDir) {
      try {
        fs.rmSync(l.dir, { recursive: true, force: true });
      } catch {
        // Best effort at exit.
      }
    }
  }
  live.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killLiveNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killLiveNow();
      // Listening for a signal disables Node's default "exit on signal"; if no
      // one else handles it, restore the default by re-raising.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

let pdeathsigSupport: boolean | undefined;
/**
 * util-linux setpriv --pdeathsig makes the kernel SIGKILL a component when the
 * Node process dies for any reason, including SIGKILL, which no JS handler sees.
 */
function hasPdeathsig(): boolean {
  if (pdeathsigSupport === undefined) {
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    pdeathsigSupport = r.status === 0 && r.stdout.includes('--pdeathsig');
  }
  return pdeathsigSupport;
}

interface Started {
  rec: ProcessRecord;
  child: ChildProcess;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function startComponent(
  name: ComponentName,
  bin: string,
  args: string[],
  logDir: string,
  detached: boolean,
  wrap: string[] = [],
): Started {
  const logFile = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  let command = wrap[0] ?? bin;
  let argv = wrap.length > 0 ? [...wrap.slice(1), bin, ...args] : args;
  if (!detached && process.platform === 'linux' && hasPdeathsig()) {
    command = 'setpriv';
    // nsenter execs the component, so the death signal carries over to it.
    argv = ['--pdeathsig', 'KILL', '--', ...wrap, bin, ...args];
  }
  let child: ChildProcess;
  try {
    child = spawn(command, argv, {
      stdio: ['ignore', fd, fd],
      // Own session: a terminal Ctrl-C is not delivered to the components of a
      // detached plane; attached planes are cleaned up by our handlers instead.
      detached,
      // Components get explicit --kubeconfig flags; never let a developer's
      // KUBECONFIG (possibly a real cluster) leak in as a fallback.
      env: { ...process.env, KUBECONFIG: '' },
    });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`failed to spawn ${bin}`);
  const started: Started = { rec: { name, pid: child.pid, bin, logFile }, child, exited: undefined };
  child.on('exit', (code, sig) => {
    started.exited = { code, signal: sig };
  });
  child.on('error', () => {
    started.exited ??= { code: null, signal: null };
  });
  if (detached) child.unref();
  return started;
}

function tail(file: string, lines = LOG_TAIL_LINES): string {
  try {
    const all = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ----------------------------------------------------------------- helpers

/** Something accepts connections on 127.0.0.1:port. */
function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Distinct free ports on 127.0.0.1 (all held open together, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

interface ProbeResult {
  status: number;
  body: string;
}

/** A connection to a URL inside the namespace; TLS is layered on here because a custom connection skips the agent that would. */
function dialInside(netns: NamespaceAccess, u: URL, ca: string | undefined): net.Socket {
  const raw = netns.connect(Number(u.port));
  if (u.protocol !== 'https:') return raw;
  return tls.connect({ socket: raw, host: u.hostname, ...(ca ? { ca } : { rejectUnauthorized: false }) });
}

function probe(url: string, opts: { ca?: string; token?: string; netns?: NamespaceAccess | undefined } = {}): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (opts.token) headers['Authorization'] = `Bearer ${opts.token}`;
    const netns = opts.netns;
    const common = {
      method: 'GET',
      headers,
      timeout: 3_000,
      // A request with its own connection must have no agent (an agent dials itself).
      ...(netns ? { createConnection: () => dialInside(netns, u, opts.ca) } : { agent: false as const }),
    };
    const req =
      u.protocol === 'https:'
        ? https.request(u, {
            ...common,
            // Until the apiserver has written its cert there is nothing to
            // verify against; the connection is refused then anyway.
            ...(opts.ca ? { ca: opts.ca } : { rejectUnauthorized: false }),
          })
        : http.request(u, common);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(
  s: Started,
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    if (s.exited) {
      throw new Error(
        `${what} exited during startup (code ${s.exited.code}, signal ${s.exited.signal}); ` +
          `last lines of ${s.rec.logFile}:\n${tail(s.rec.logFile)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready after ${timeoutMs} ms${lastErr ? ` (last error: ${lastErr})` : ''}; ` +
          `last lines of ${s.rec.logFile}:\n${tail(s.rec.logFile)}`,
      );
    }
    await sleep(250);
  }
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  // JSON is valid YAML; avoids hand-quoting.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'image-locality', cluster: { server, 'certificate-authority-data': ca } }],
      users: [{ name: ADMIN_USER, user: { token } }],
      contexts: [{ name: 'image-locality', context: { cluster: 'image-locality', user: ADMIN_USER } }],
      'current-context': 'image-locality',
    },
    null,
    2,
  );
}

// ------------------------------------------------------------------- start

const TEMP_PREFIX = 'image-locality-cp-';
const OWNER_FILE = 'owner.json';

/**
 * A test process that was SIGKILLed cannot remove its temp dir (its components
 * die with it via pdeathsig), and etcd preallocates 64 MB WAL files: remove
 * temp dirs of attached planes whose owning process is gone.
 */
function sweepOrphanedTempDirs(): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(TEMP_PREFIX));
  } catch {
    return;
  }
  for (const e of entries) {
    const dir = path.join(os.tmpdir(), e);
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as { pid: number };
      if (pid !== process.pid && !isAlive(pid)) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // No owner file (detached plane, or being created right now): leave it.
    }
  }
}

/**
 * Start etcd, kube-apiserver and (unless scheduler: false) kube-scheduler on
 * free 127.0.0.1 ports; resolves once the apiserver's /readyz and the
 * scheduler's /readyz are OK. On failure everything started is stopped and the
 * error carries the tail of the failing component's log.
 */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((): void => {});
  const detached = opts.detached ?? false;
  const withScheduler = opts.scheduler ?? true;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const keepDir = opts.keepDir ?? process.env['IMAGE_LOCALITY_KEEP_CLUSTER_DIR'] === '1';

  const binDir = controlPlaneBinDir();
  sweepOrphanedTempDirs();
  const dir = opts.dir ? path.resolve(opts.dir) : fs.mkdtempSync(path.join(os.tmpdir(), TEMP_PREFIX));
  fs.mkdirSync(dir, { recursive: true });
  if (!opts.dir && !detached) {
    fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid }) + '\n');
  }
  const logDir = path.join(dir, 'logs');
  const pkiDir = path.join(dir, 'pki');
  const etcdDataDir = path.join(dir, 'etcd-data');
  fs.mkdirSync(logDir, { recursive: true });
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  // etcd insists on 0700 for its data dir.
  fs.mkdirSync(etcdDataDir, { recursive: true, mode: 0o700 });

  const started: Started[] = [];
  const liveEntry: Live = { records: [], dir, removeDir: !keepDir };
  // Even a detached plane must not leak if startup itself is interrupted; the
  // entry is dropped once a detached plane is handed over.
  installExitHandlers();
  live.add(liveEntry);

  const records = (): ProcessRecord[] => started.map((s) => s.rec);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    live.delete(liveEntry);
    await stopProcesses(records());
    if (!keepDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  const run = (name: ComponentName, args: string[]): Started => {
    const s = startComponent(name, path.join(binDir, name), args, logDir, detached, opts.netns?.wrap);
    started.push(s);
    liveEntry.records.push(s.rec);
    log(`${name} started (pid ${s.rec.pid}, log ${s.rec.logFile})`);
    return s;
  };

  try {
    const [etcdClient, etcdPeer, apiPort, schedPort, kcmPort] = (await freePorts(5)) as [number, number, number, number, number];

    // ------------------------------------------------------------- etcd
    const etcdEndpoint = `http://127.0.0.1:${etcdClient}`;
    const t0 = Date.now();
    const etcd = run('etcd', [
      '--name=default',
      `--data-dir=${etcdDataDir}`,
      `--listen-client-urls=${etcdEndpoint}`,
      `--advertise-client-urls=${etcdEndpoint}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state=new',
      // Throw-away data: skipping fsync makes the apiserver much faster on slow disks.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitReady(etcd, 'etcd', readyTimeoutMs, async () => {
      const r = await probe(`${etcdEndpoint}/health`, { netns: opts.netns });
      return r.status === 200 && r.body.includes('"health":"true"');
    });
    log(`etcd ready on ${etcdEndpoint} after ${Date.now() - t0} ms`);

    // ------------------------------------------------------ kube-apiserver
    const token = randomBytes(24).toString('hex');
    const tokenFile = path.join(pkiDir, 'tokens.csv');
    // token,user,uid,"groups": system:masters is bound to cluster-admin by RBAC bootstrap.
    const tokenLines = [`${token},${ADMIN_USER},${ADMIN_USER},"system:masters"`];
    for (const t of opts.extraTokens ?? []) tokenLines.push(`${t.token},${t.user},${t.user},"${t.groups.join(',')}"`);
    fs.writeFileSync(tokenFile, tokenLines.join('\n') + '\n', { mode: 0o600 });
    const sa = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const saPub = path.join(pkiDir, 'sa.pub');
    const saKey = path.join(pkiDir, 'sa.key');
    fs.writeFileSync(saPub, sa.publicKey);
    fs.writeFileSync(saKey, sa.privateKey, { mode: 0o600 });

    const disabled = ['TaintNodesByCondition'];
    if (!opts.serviceAccountAdmission) disabled.push('ServiceAccount');
    const enabled = [
      'NamespaceLifecycle',
      'LimitRanger',
      'NodeRestriction',
      'Priority',
      'DefaultTolerationSeconds',
      ...(opts.serviceAccountAdmission ? ['ServiceAccount'] : []),
      // The webhook under test is a mutating admission webhook: be explicit even
      // though it is on by default.
      'MutatingAdmissionWebhook',
      'ValidatingAdmissionWebhook',
      'ResourceQuota',
    ];
    const server = `https://127.0.0.1:${apiPort}`;
    const t1 = Date.now();
    const apiserverArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      // Self-signed serving cert (CA + cert written to apiserver.crt) with IP SAN 127.0.0.1.
      `--cert-dir=${pkiDir}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=Node,RBAC',
      `--enable-admission-plugins=${enabled.join(',')}`,
      `--disable-admission-plugins=${disabled.join(',')}`,
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--service-account-issuer=${SA_ISSUER}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--allow-privileged=true',
      // The `kubernetes` Service endpoint cannot point at a loopback address (the
      // reconciler logs an error every few seconds); nothing in-cluster needs it.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      ...(opts.extraApiserverArgs ?? []),
    ];
    let apiserver = run('kube-apiserver', apiserverArgs);
    const certFile = path.join(pkiDir, 'apiserver.crt');
    let caPem = '';
    const apiserverReady = (s: Started): Promise<void> =>
      waitReady(s, 'kube-apiserver', readyTimeoutMs, async () => {
        if (!caPem && fs.existsSync(certFile)) caPem = fs.readFileSync(certFile, 'utf8');
        if (!caPem) return false;
        const r = await probe(`${server}/readyz`, { ca: caPem, token, netns: opts.netns });
        return r.status === 200;
      });
    await apiserverReady(apiserver);
    log(`kube-apiserver ready on ${server} after ${Date.now() - t1} ms`);
    const restartApiserver = async (whileDown?: () => Promise<void>): Promise<void> => {
      await stopProcesses([apiserver.rec]);
      // On a loaded machine the old process can outlive stopProcesses' wait; the new
      // one could not bind the port until it is gone.
      const goneBy = Date.now() + 60_000;
      while ((isAlive(apiserver.rec.pid) || (await portInUse(apiPort))) && Date.now() < goneBy) await sleep(200);
      started.splice(started.indexOf(apiserver), 1);
      liveEntry.records.splice(liveEntry.records.indexOf(apiserver.rec), 1);
      await whileDown?.();
      // The serving certificate in --cert-dir is reused, so caPem stays valid.
      apiserver = run('kube-apiserver', apiserverArgs);
      await apiserverReady(apiserver);
      log('kube-apiserver restarted');
    };

    const kubeconfigPath = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfigPath, kubeconfigYaml(server, caPem, token), { mode: 0o600 });

    /**
     * kube-scheduler and kube-controller-manager alike: the admin identity, no
     * leader election (one of each), serving on loopback; ready once `readyPath`
     * answers 200.
     */
    const runClient = async (name: 'kube-scheduler' | 'kube-controller-manager', port: number, readyPath: string, extra: string[]): Promise<void> => {
      const t = Date.now();
      const s = run(name, [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${path.join(pkiDir, name)}`,
        ...extra,
      ]);
      await waitReady(s, name, readyTimeoutMs, async () => (await probe(`https://127.0.0.1:${port}${readyPath}`, { netns: opts.netns })).status === 200);
      log(`${name} ready after ${Date.now() - t} ms`);
    };
    // /readyz (unlike /healthz) waits for the informer caches, so pods created
    // right after we return are scheduled without a resync delay.
    if (withScheduler) await runClient('kube-scheduler', schedPort, '/readyz', []);
    if (opts.controllerManager) {
      await runClient('kube-controller-manager', kcmPort, '/healthz', [
        `--controllers=${opts.controllerManager.controllers.join(',')}`,
        // What pods find in kube-root-ca.crt to verify the apiserver with.
        `--root-ca-file=${certFile}`,
      ]);
    }

    if (detached) live.delete(liveEntry);
    return {
      kubeconfigPath,
      server,
      dir,
      token,
      caPem,
      etcdEndpoint,
      // A getter: restartApiserver() replaces the apiserver's record.
      get processes() {
        return records();
      },
      restartApiserver,
      stop,
    };
  } catch (err) {
    // A caller-owned dir keeps its logs for diagnosis; a temp dir is removed
    // (the error already carries the relevant log tail).
    if (opts.dir) liveEntry.removeDir = false;
    stopped = true;
    live.delete(liveEntry);
    await stopProcesses(records()).catch(() => {});
    if (liveEntry.removeDir) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
