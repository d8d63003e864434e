/**
 * Nodes shaped like those of a managed cloud cluster, for the scale benchmark: the
 * labels and annotations a cloud kubelet and CSI driver set, five conditions with
 * messages, addresses, node info, capacity and allocatable, 50 images with a
 * digest and a tag name each, and managedFields from the kubelet and the
 * controller manager. `npm run bench:scale:memory` prints their average size as stored.
 */
import type { CatalogueImage } from '../workload.js';

export const POOLS = 20;

function hex(random: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, length);
}

function skewedIndex(random: () => number, count: number): number {
  return Math.min(count - 1, Math.floor(Math.pow(random(), 2.5) * count));
}

/** Managed-fields keys for each field of a map ({"f:cpu":{},...}). */
function fieldsOf(keys: readonly string[]): Record<string, object> {
  return Object.fromEntries(keys.map((k) => [`f:${k}`, {}]));
}

const CONDITIONS = [
  ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
  ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
  ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
  ['NetworkUnavailable', 'False', 'RouteCreated', 'RouteController created a route'],
] as const;

const RESOURCES = { cpu: '15890m', 'ephemeral-storage': '95551679124', 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: '62180720Ki', pods: '110' };

export function realisticNode(index: number, catalogue: readonly CatalogueImage[], random: () => number): Record<string, unknown> {
  const name = `ip-10-${(index >> 8) & 255}-${index & 255}-${index % 7}.eu-west-1.compute.internal`;
  const zone = `eu-west-1${'abc'[index % 3]}`;
  const pool = `pool-${index % POOLS}`;
  const ip = `10.${(index >> 8) & 255}.${index & 255}.${7 + (index % 200)}`;
  const instance = `i-0${hex(random, 16)}`;
  const time = '2026-11-30T08:15:42Z';
  const chosen = new Set<number>();
  while (chosen.size < 50) chosen.add(skewedIndex(random, catalogue.length));
  const images = [...chosen].map((i) => {
    const image = catalogue[i] as CatalogueImage;
    const repo = image.reference.slice(0, image.reference.lastIndexOf(':'));
    return { names: [`${repo}@sha256:${i.toString(16).padStart(64, 'a')}`, image.reference], sizeBytes: image.sizeBytes };
  });
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/instance-type': 'm6i.4xlarge',
    'beta.kubernetes.io/os': 'linux',
    'eks.amazonaws.com/capacityType': index % 5 === 0 ? 'SPOT' : 'ON_DEMAND',
    'eks.amazonaws.com/nodegroup': pool,
    'eks.amazonaws.com/nodegroup-image': 'ami-0c1d2e3f4a5b6c7d8',
    'failure-domain.beta.kubernetes.io/region': 'eu-west-1',
    'failure-domain.beta.kubernetes.io/zone': zone,
    'k8s.io/cloud-provider-aws': 'a94d3c7e5b1f2c8d9e0f1a2b3c4d5e6f',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'node.kubernetes.io/instance-type': 'm6i.4xlarge',
    'topology.ebs.csi.aws.com/zone': zone,
    'topology.kubernetes.io/region': 'eu-west-1',
    'topology.kubernetes.io/zone': zone,
    pool,
  };
  const annotations: Record<string, string> = {
    'alpha.kubernetes.io/provided-node-ip': ip,
    'csi.volume.kubernetes.io/nodeid': JSON.stringify({ 'ebs.csi.aws.com': instance, 'efs.csi.aws.com': instance }),
    'node.alpha.kubernetes.io/ttl': '0',
    'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
  };
  const taints = index % 10 === 9 ? [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] : [];
  const conditionKeys = Object.fromEntries(
    CONDITIONS.map(([type]) => [
      `k:{"type":"${type}"}`,
      { '.': {}, 'f:lastHeartbeatTime': {}, 'f:lastTransitionTime': {}, 'f:message': {}, 'f:reason': {}, 'f:status': {}, 'f:type': {} },
    ]),
  );
  const managedFields = [
    {
      manager: 'kubelet',
      operation: 'Update',
      apiVersion: 'v1',
      time,
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:annotations': { '.': {}, ...fieldsOf(Object.keys(annotations)) }, 'f:labels': { '.': {}, ...fieldsOf(Object.keys(labels)) } },
        'f:spec': { 'f:providerID': {} },
      },
    },
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'v1',
      time,
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:node.alpha.kubernetes.io/ttl': {} } }, 'f:spec': { 'f:podCIDR': {}, 'f:podCIDRs': { '.': {}, [`v:"10.244.${index & 255}.0/24"`]: {} } } },
    },
    {
      manager: 'kubelet',
      operation: 'Update',
      apiVersion: 'v1',
      time,
      fieldsType: 'FieldsV1',
      subresource: 'status',
      fieldsV1: {
        'f:status': {
          'f:allocatable': fieldsOf(Object.keys(RESOURCES)),
          'f:capacity': fieldsOf(Object.keys(RESOURCES)),
          'f:conditions': conditionKeys,
          'f:daemonEndpoints': { 'f:kubeletEndpoint': { 'f:Port': {} } },
          'f:images': {},
          'f:nodeInfo': fieldsOf(['architecture', 'bootID', 'containerRuntimeVersion', 'kernelVersion', 'kubeProxyVersion', 'kubeletVersion', 'machineID', 'operatingSystem', 'osImage', 'systemUUID']),
        },
      },
    },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels, annotations, managedFields },
    spec: {
      podCIDR: `10.244.${index & 255}.0/24`,
      podCIDRs: [`10.244.${index & 255}.0/24`],
      providerID: `aws:///${zone}/${instance}`,
      ...(taints.length > 0 ? { taints } : {}),
    },
    status: {
      capacity: RESOURCES,
      allocatable: RESOURCES,
      conditions: CONDITIONS.map(([type, status, reason, message]) => ({
        type,
        status,
        reason,
        message,
        lastHeartbeatTime: time,
        lastTransitionTime: time,
      })),
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'InternalDNS', address: name },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(random, 32),
        systemUUID: `ec2${hex(random, 5)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 12)}`,
        bootID: `${hex(random, 8)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 12)}`,
        kernelVersion: '6.1.112-124.190.amzn2023.x86_64',
        osImage: 'Amazon Linux 2023.6.20241010',
        containerRuntimeVersion: 'containerd://1.7.22',
        kubeletVersion: 'v1.36.3-eks-a737599',
        kubeProxyVersion: 'v1.36.3-eks-a737599',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images,
    },
  };
}
