// What a lab changes on the machine outside its own directory and namespace, and
// how each change is put back. Written to a state file before the first change, so
// that a later run (or `npm run lab:clean`) can undo a lab whose test process was
// killed before it could clean up.
//
// The kubelet, with protectKernelDefaults off, sets three sysctls machine-wide;
// each node gets a cgroup /nodeN in every v1 hierarchy; containerd's CRI leaves pod
// network namespaces in /run/netns and CNI results in /var/lib/cni/results.
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, killAndWaitSync, run } from './procs.js';
import { deleteNetns, NETNS_DIR } from './netns.js';

/** Sysctls the kubelet changes machine-wide (kubelet/cm/container_manager_linux.go setupKernelTunables). */
export const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'] as const;

export const STATE_DIR = '/run/image-locality-lab';
export const STATE_FILE = path.join(STATE_DIR, 'state.json');
const CGROUP_ROOT = '/sys/fs/cgroup';
const CNI_RESULTS = '/var/lib/cni/results';

export interface HostState {
  /** The test process that owns the lab. */
  pid: number;
  /** Unique lab directory; every lab process has it on its command line. */
  dir: string;
  netns: string;
  /** Sysctl values before the lab, restored at teardown. */
  sysctls: Record<string, string>;
  /** Cgroup paths made in every v1 hierarchy, e.g. /node1. */
  cgroups: string[];
  /** CNI network names, whose cached results are removed. */
  cniNetworks: string[];
  /** Entries of /run/netns before the lab: anything new at teardown is a pod's. */
  netnsBefore: string[];
  /** Shim sockets in /run/containerd/s before the lab; new ones are the lab's shims'. */
  shimSocketsBefore: string[];
  /** Whether /var/lib/kubelet existed: the kubelet's device-plugin socket goes there whatever its root dir. */
  varLibKubeletExisted: boolean;
  varLogContainersExisted: boolean;
}

const SHIM_SOCKETS = '/run/containerd/s';
const VAR_LIB_KUBELET = '/var/lib/kubelet';
/** The kubelet links container logs here whatever podLogsDir says. */
const CONTAINER_LOG_LINKS = '/var/log/containers';

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The parts of HostState that describe the machine as it is before a lab. */
export function machineBefore(): Pick<HostState, 'sysctls' | 'netnsBefore' | 'shimSocketsBefore' | 'varLibKubeletExisted' | 'varLogContainersExisted'> {
  return {
    sysctls: saveSysctls(),
    netnsBefore: entries(NETNS_DIR),
    shimSocketsBefore: entries(SHIM_SOCKETS),
    varLibKubeletExisted: fs.existsSync(VAR_LIB_KUBELET),
    varLogContainersExisted: fs.existsSync(CONTAINER_LOG_LINKS),
  };
}

function removeLabFiles(state: HostState): void {
  for (const f of entries(CNI_RESULTS)) {
    if (state.cniNetworks.some((n) => f.startsWith(`${n}-`))) fs.rmSync(path.join(CNI_RESULTS, f), { force: true });
  }
  for (const f of entries(SHIM_SOCKETS)) if (!(state.shimSocketsBefore ?? []).includes(f)) fs.rmSync(path.join(SHIM_SOCKETS, f), { force: true });
  for (const f of entries(CONTAINER_LOG_LINKS)) {
    const link = path.join(CONTAINER_LOG_LINKS, f);
    try {
      if (fs.readlinkSync(link).startsWith(state.dir + '/')) fs.rmSync(link, { force: true });
    } catch {
      // Not a link.
    }
  }
  if (state.varLogContainersExisted === false && entries(CONTAINER_LOG_LINKS).length === 0) fs.rmSync(CONTAINER_LOG_LINKS, { recursive: true, force: true });
  if (state.varLibKubeletExisted === false && mountsUnder(VAR_LIB_KUBELET).length === 0) fs.rmSync(VAR_LIB_KUBELET, { recursive: true, force: true });
}

export function readSysctl(key: string): string {
  return fs.readFileSync(path.join('/proc/sys', key), 'utf8').trim();
}

export function saveSysctls(): Record<string, string> {
  return Object.fromEntries(KUBELET_SYSCTLS.map((k) => [k, readSysctl(k)]));
}

export function writeState(state: HostState): void {
  fs.mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  fs.writeFileSync(STATE_FILE + '.tmp', JSON.stringify(state, null, 2));
  fs.renameSync(STATE_FILE + '.tmp', STATE_FILE);
}

export function readState(): HostState | undefined {
  try {
    return JSON.parse(fs.readFileSync(STATE_FILE, 'utf8')) as HostState;
  } catch {
    return undefined;
  }
}

/** cgroup v1 hierarchies mounted on this machine (directory names under /sys/fs/cgroup). */
export function cgroupV1Hierarchies(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || !post.startsWith('cgroup ')) continue;
    const mountPoint = pre.split(' ')[4];
    if (mountPoint?.startsWith(CGROUP_ROOT + '/')) out.push(mountPoint);
  }
  return out;
}

/** Makes `/nodeN` in every v1 hierarchy; cpuset needs its cpus and mems before anything can join. */
export function makeNodeCgroup(name: string): void {
  for (const h of cgroupV1Hierarchies()) {
    const dir = path.join(h, name);
    fs.mkdirSync(dir, { recursive: true });
    if (path.basename(h) === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(h, f), 'utf8'));
    }
  }
}

function cgroupTree(dir: string): string[] {
  let children: string[] = [];
  try {
    children = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => cgroupTree(path.join(dir, e.name)));
  } catch {
    return [];
  }
  return [...children, dir];
}

function pidsIn(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // Removed meanwhile.
    }
  }
  return [...pids];
}

/** Pids whose command line names the lab directory: every lab process, and containerd's shims. */
export function labProcesses(dir: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) out.push(Number(e));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/** Mount points at or under `prefix`, deepest first. */
export function mountsUnder(prefix: string): string[] {
  const points: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const decoded = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (decoded === prefix || decoded.startsWith(prefix + '/')) points.push(decoded);
  }
  return points.sort((a, b) => b.length - a.length);
}

function unmountAll(points: string[]): string[] {
  const failed: string[] = [];
  for (const p of points) {
    const r = run('umount', [p], { allowFail: true, timeoutMs: 20_000 });
    void r;
    if (mountsUnder(p).includes(p)) run('umount', ['-l', p], { allowFail: true, timeoutMs: 20_000 });
    if (mountsUnder(p).includes(p)) failed.push(p);
  }
  return failed;
}

/**
 * Undoes everything the lab did to the machine, in an order that works even after
 * a crash: kill the lab's processes, then the containers in the node cgroups,
 * unmount, remove cgroups, pod and lab namespaces, restore sysctls, remove files.
 * Synchronous, so that it can run from an exit handler. Returns what could not be
 * undone (empty when everything was).
 */
export function undoLab(state: HostState): string[] {
  const problems: string[] = [];
  killAndWaitSync(labProcesses(state.dir));
  const hierarchies = cgroupV1Hierarchies();
  const trees = state.cgroups.flatMap((c) => hierarchies.flatMap((h) => cgroupTree(path.join(h, c))));
  for (let i = 0; i < 3; i++) {
    const pids = pidsIn(trees);
    if (pids.length === 0) break;
    killAndWaitSync(pids);
  }
  // Shims may have been restarted by nothing, but a container's exit can leave a
  // shim alive for a moment: sweep once more.
  killAndWaitSync(labProcesses(state.dir));

  problems.push(...unmountAll(mountsUnder(state.dir)).map((m) => `still mounted: ${m}`));
  let podNetns: string[] = [];
  try {
    podNetns = fs.readdirSync(NETNS_DIR).filter((n) => n.startsWith('cni-') && !state.netnsBefore.includes(n));
  } catch {
    // No /run/netns.
  }
  for (const n of podNetns) {
    const p = path.join(NETNS_DIR, n);
    unmountAll([p]);
    fs.rmSync(p, { force: true });
  }
  for (const dir of trees) {
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`cgroup ${dir}: ${(err as Error).message}`);
    }
  }
  deleteNetns(state.netns);
  for (const [key, value] of Object.entries(state.sysctls)) {
    try {
      if (readSysctl(key) !== value) fs.writeFileSync(path.join('/proc/sys', key), value);
    } catch (err) {
      problems.push(`sysctl ${key}: ${(err as Error).message}`);
    }
  }
  removeLabFiles(state);
  // Never delete through a mount that is still there (it could be a host path).
  if (mountsUnder(state.dir).length === 0) fs.rmSync(state.dir, { recursive: true, force: true });
  else problems.push(`left ${state.dir} in place: mounts remain`);
  const current = readState();
  if (current && current.dir === state.dir) fs.rmSync(STATE_FILE, { force: true });
  return problems;
}

/** Before a new lab: undo one left by a test process that is gone; refuse if its owner still runs. */
export function recoverAbandonedLab(log: (line: string) => void): void {
  const previous = readState();
  if (!previous) return;
  if (previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new Error(`another real-node lab is running (pid ${previous.pid}, ${previous.dir}); one lab per machine (the kubelet's sysctls and device-plugin socket are machine-wide)`);
  }
  log(`undoing an abandoned lab from pid ${previous.pid} (${previous.dir})`);
  const problems = undoLab(previous);
  if (problems.length > 0) throw new Error(`could not undo the abandoned lab: ${problems.join('; ')}`);
}
