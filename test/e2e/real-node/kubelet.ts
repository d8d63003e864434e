// One kubelet per lab node: own root dir, cgroup root (/nodeN), ports, runtime
// socket, address on the lab namespace's loopback device, and token. Settings that
// this machine needs are commented where they are set.
import fs from 'node:fs';
import path from 'node:path';
import { spawnInLab, type LabProcess } from './procs.js';
import { makeNodeCgroup } from './host-state.js';

export interface KubeletOptions {
  node: string;
  index: number;
  address: string;
  dir: string;
  logDir: string;
  wrap: string[];
  binary: string;
  /** The apiserver as seen inside the lab. */
  server: string;
  caPem: string;
  token: string;
  containerdSocket: string;
  cgroup: string;
}

export interface Kubelet {
  node: string;
  address: string;
  process: LabProcess;
  rootDir: string;
}

function kubeletConfig(o: KubeletOptions, base: string): string {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: o.address,
      port: 10250 + o.index,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10260 + o.index,
      // The apiserver reaches kubelets only inside the lab's namespace; logs/exec need no more.
      authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: 'AlwaysAllow' },
      cgroupDriver: 'cgroupfs',
      cgroupRoot: o.cgroup,
      // This machine has cgroup v1 hierarchies (hybrid); kubelet 1.36 refuses them unless told.
      failCgroupV1: false,
      // The machine's vm.overcommit_memory, kernel.panic(_on_oops) differ from the kubelet's
      // wish; with this off the kubelet changes them, and the lab puts them back.
      protectKernelDefaults: false,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${o.containerdSocket}`,
      podLogsDir: path.join(base, 'pod-logs'),
      volumePluginDir: path.join(base, 'volume-plugins'),
      // No cluster DNS and no name server of the machine's in pods: nothing leaves the lab.
      resolvConf: '',
      clusterDomain: 'lab.local',
      registerNode: true,
      rotateCertificates: false,
      serializeImagePulls: true,
      // A node full of large test images must not be evicted from under a test.
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '2%', 'imagefs.available': '2%' },
      imageGCHighThresholdPercent: 99,
      imageGCLowThresholdPercent: 98,
      nodeStatusUpdateFrequency: '10s',
      staticPodPath: '',
    },
    null,
    2,
  );
}

function kubeconfig(o: KubeletOptions): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: o.server, 'certificate-authority-data': Buffer.from(o.caPem).toString('base64') } }],
    users: [{ name: o.node, user: { token: o.token } }],
    contexts: [{ name: 'lab', context: { cluster: 'lab', user: o.node } }],
    'current-context': 'lab',
  });
}

export function startKubelet(o: KubeletOptions): Kubelet {
  const base = path.join(o.dir, `kubelet-${o.node}`);
  const rootDir = path.join(base, 'root');
  fs.mkdirSync(rootDir, { recursive: true });
  fs.mkdirSync(path.join(base, 'pod-logs'), { recursive: true });
  const config = path.join(base, 'config.json');
  const kc = path.join(base, 'kubeconfig');
  fs.writeFileSync(config, kubeletConfig(o, base));
  fs.writeFileSync(kc, kubeconfig(o), { mode: 0o600 });
  makeNodeCgroup(o.cgroup);
  const proc = spawnInLab(
    `kubelet-${o.node}`,
    o.binary,
    [
      `--config=${config}`,
      `--kubeconfig=${kc}`,
      `--root-dir=${rootDir}`,
      `--cert-dir=${path.join(base, 'pki')}`,
      `--hostname-override=${o.node}`,
      `--node-ip=${o.address}`,
      '--v=1',
    ],
    { wrap: o.wrap, logDir: o.logDir },
  );
  return { node: o.node, address: o.address, process: proc, rootDir };
}
