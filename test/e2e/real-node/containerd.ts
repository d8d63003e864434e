// One containerd per lab node: its own root, state, sockets, runc root and CNI
// configuration, so that each node holds (and its kubelet reports) only its own
// images. Settings that this machine needs, and why, are in the comments below.
import fs from 'node:fs';
import path from 'node:path';
import { run, spawnInLab, waitFor, type LabProcess } from './procs.js';

export interface ContainerdOptions {
  node: string;
  /** 1-based node number: picks the bridge name and pod subnet. */
  index: number;
  dir: string;
  logDir: string;
  wrap: string[];
  sandboxImage: string;
  /** Registry host as images name it (e.g. 127.0.0.1:5000) -> the URL this node pulls it from. */
  mirrors: Record<string, string>;
  /** Destinations pods reach through the node's bridge address (podGateway), e.g. the `kubernetes` ClusterIP. */
  podRoutes?: string[];
}

export interface Containerd {
  socket: string;
  process: LabProcess;
  cniNetwork: string;
  /** Runs `ctr` against this containerd, in the CRI's namespace. */
  ctr(args: string[]): string;
}

export function cniNetworkName(index: number): string {
  return `image-locality-lab-${index}`;
}

export function podBridge(index: number): string {
  return `ilbr${index}`;
}

export function podSubnet(index: number): string {
  return `10.251.${index}.0/24`;
}

/** The node's own address on its pod bridge: host-local IPAM keeps .1 for the gateway. */
export function podGateway(index: number): string {
  return `10.251.${index}.1`;
}

/**
 * The node's pod bridge, made before containerd's bridge plugin would make it, so
 * that it carries the gateway address: the lab's namespace then has a route to the
 * node's pods (kubelet probes, the apiserver calling a webhook pod) and pods reach
 * addresses of the namespace through it. The plugin keeps an existing bridge as it
 * is; with isGateway it would add the address itself but also turn on forwarding,
 * which nothing here needs (every address pods talk to is the namespace's own).
 */
export function createPodBridge(netns: string, index: number): void {
  const bridge = podBridge(index);
  run('ip', ['-n', netns, 'link', 'add', bridge, 'type', 'bridge']);
  run('ip', ['-n', netns, 'addr', 'add', `${podGateway(index)}/24`, 'dev', bridge]);
  run('ip', ['-n', netns, 'link', 'set', bridge, 'up']);
}

function toml(o: ContainerdOptions, d: Record<string, string>): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(d['root'])}
state = ${q(d['state'])}
# No plugin directory of the machine's; btrfs, zfs, devmapper and aufs cannot work here.
plugin_dir = ""
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(d['socket'])}
[ttrpc]
  address = ${q(d['socket'] + '.ttrpc')}
[debug]
  address = ${q(d['debug'])}
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(d['opt'])}

[plugins."io.containerd.grpc.v1.cri"]
  # No registry outside the machine: the pause image comes from the lab's registry.
  sandbox_image = ${q(o.sandboxImage)}
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE, which this machine's
  # root lacks: without this every sandbox fails ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    # runc, not crun: crun refuses hybrid cgroups.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "runc"
        Root = ${q(d['runc'])}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(d['cni'])}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${q(d['certs'])}
`;
}

function cniConfig(o: ContainerdOptions, ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: cniNetworkName(o.index),
      plugins: [
        {
          type: 'bridge',
          bridge: podBridge(o.index),
          // isGateway would turn on IP forwarding; pods need no way out (createPodBridge).
          isGateway: false,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: podSubnet(o.index), gateway: podGateway(o.index) }]],
            dataDir: ipamDir,
            // No default route: only these destinations, each an address inside the lab.
            routes: (o.podRoutes ?? []).map((dst) => ({ dst, gw: podGateway(o.index) })),
          },
        },
      ],
    },
    null,
    2,
  );
}

/**
 * The node's link is the registry's only endpoint, as server and as host (containerd
 * 1.6 refuses a file without a host table). Were the server the name's own host, a
 * failed pull would fall back to it and report its error (connection refused)
 * instead of the registry's (not found, unauthorized).
 */
function hostsToml(url: string): string {
  return `server = ${JSON.stringify(url)}\n\n[host.${JSON.stringify(url)}]\n  capabilities = ["pull", "resolve"]\n`;
}

export async function startContainerd(o: ContainerdOptions): Promise<Containerd> {
  const base = path.join(o.dir, `containerd-${o.node}`);
  const d: Record<string, string> = {
    root: path.join(base, 'root'),
    state: path.join(base, 'state'),
    socket: path.join(base, 'containerd.sock'),
    debug: path.join(base, 'debug.sock'),
    opt: path.join(base, 'opt'),
    runc: path.join(base, 'runc'),
    cni: path.join(base, 'cni'),
    certs: path.join(base, 'certs.d'),
  };
  for (const k of ['root', 'state', 'opt', 'runc', 'cni', 'certs']) fs.mkdirSync(d[k]!, { recursive: true });
  fs.writeFileSync(path.join(d['cni']!, '10-lab.conflist'), cniConfig(o, path.join(base, 'ipam')));
  for (const [host, url] of Object.entries(o.mirrors)) {
    fs.mkdirSync(path.join(d['certs']!, host), { recursive: true });
    fs.writeFileSync(path.join(d['certs']!, host, 'hosts.toml'), hostsToml(url));
  }
  const config = path.join(base, 'config.toml');
  fs.writeFileSync(config, toml(o, d));
  const proc = spawnInLab(`containerd-${o.node}`, 'containerd', ['--config', config], { wrap: o.wrap, logDir: o.logDir });
  const socket = d['socket']!;
  await waitFor(proc, `containerd of ${o.node}`, 90_000, () => fs.existsSync(socket));
  return {
    socket,
    process: proc,
    cniNetwork: cniNetworkName(o.index),
    ctr: (args) => run('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args]),
  };
}
