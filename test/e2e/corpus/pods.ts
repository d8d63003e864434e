// A corpus of varied pod specs for the end-to-end run, each with the nodes the
// webhook should point it at given CORPUS_NODES (null: no injection expected).
//
// Eligibility reminder (see nodes.ts): untainted schedulable nodes are a, b, c, d
// and cold; gpu is tainted, cordoned is unschedulable. The default policy scores a
// node by the share of the pod's known image bytes it holds (minScore 0.5), and
// injects nothing when every node the pod may run on already holds all its images.
import type { V1Container, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { IMAGES, OTHER_DIGEST, WORKER_DIGEST } from './nodes.js';

export interface CorpusCase {
  name: string;
  /** Why the expectation is what it is. */
  why: string;
  /** Nodes the injected terms must name (any order); null: the pod must come back without injection. */
  expectNodes: string[] | null;
  pod(namespace: string): V1Pod;
}

type SpecExtra = Partial<V1PodSpec>;

function containers(images: string[]): V1Container[] {
  return images.map((image, i) => ({ name: `c${i}`, image }));
}

function pod(
  name: string,
  namespace: string,
  images: string[],
  spec: SpecExtra = {},
  metadata: NonNullable<V1Pod['metadata']> = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { corpus: name.slice(0, 63) }, ...metadata },
    spec: { containers: containers(images), ...spec },
  };
}

/** Simple cases: one spec builder per name. */
function simple(name: string, why: string, expectNodes: string[] | null, images: string[], spec: SpecExtra = {}, metadata: NonNullable<V1Pod['metadata']> = {}): CorpusCase {
  return { name, why, expectNodes, pod: (ns) => pod(name, ns, images, spec, metadata) };
}

const AB = ['node-a', 'node-b'];

export const CORPUS: CorpusCase[] = [
  simple('web-simple', 'web is on a and b; c, d, cold are eligible and lack it', AB, [IMAGES.web]),
  simple('bare-nginx', 'nginx means docker.io/library/nginx:latest, which only b reports', ['node-b'], ['nginx']),
  simple('nginx-tag', 'nginx:1.25 is on a and on the tainted gpu node, which the pod does not tolerate', ['node-a'], ['nginx:1.25']),
  simple('nginx-no-substring', 'nginx:1.2 is not nginx:1.25: no prefix or substring matching', null, ['nginx:1.2']),
  simple('digest-only', 'b reports repo@digest for worker', ['node-b'], [`registry.example/shop/worker@${WORKER_DIGEST}`]),
  simple('tag-and-digest', 'the digest decides; b holds that digest', ['node-b'], [`registry.example/shop/worker:3.1@${WORKER_DIGEST}`]),
  simple('tag-with-other-digest', 'the tag matches but the digest does not: a different image', null, [`registry.example/shop/worker:3.1@${OTHER_DIGEST}`]),
  simple('registry-port', 'localhost:5000/... is on c', ['node-c'], [IMAGES.agent]),
  simple('ip-registry-port', '10.1.2.3:5000/... is on d', ['node-d'], [IMAGES.sensor]),
  simple('untagged-custom', 'no tag means :latest, which no node has', null, ['registry.example/shop/web']),
  simple('web-and-api', 'a holds all 300 MB; b 100 of 300 is below minScore; cordoned is not schedulable', ['node-a'], [IMAGES.web, IMAGES.api]),
  {
    name: 'many-containers',
    why: 'twelve containers, seven of them unknown images; a holds every known byte',
    expectNodes: ['node-a'],
    pod: (ns) =>
      pod('many-containers', ns, [
        IMAGES.web,
        IMAGES.api,
        'busybox:1.36',
        'nginx:1.25',
        IMAGES.web,
        ...Array.from({ length: 7 }, (_, i) => `registry.example/misc/tool-${i}:1.${i}`),
      ]),
  },
  simple('init-image', 'only the init container image is known: a, b, c hold busybox', ['node-a', 'node-b', 'node-c'], ['registry.example/unknown/app:1'], {
    initContainers: [{ name: 'setup', image: 'busybox:1.36', command: ['sh', '-c', 'true'] }],
  }),
  simple('sidecar-init', 'a native sidecar (restartPolicy Always) counts: d holds proxy and sensor', ['node-d'], [IMAGES.sensor], {
    initContainers: [{ name: 'proxy', image: IMAGES.proxy, restartPolicy: 'Always' }],
  }),
  simple('required-zone-a-or-b', 'user requires zone a or b: a, b hold web, d (zone a) does not', AB, [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }],
        },
      },
    },
  }),
  simple('required-zone-b', 'user requires zone b: b is the only eligible node and already holds web', null, [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }],
        },
      },
    },
  }),
  simple('required-two-terms', 'zone c OR ssd: a (ssd) holds web, b matches neither term', ['node-a'], [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'zone', operator: 'In', values: ['c'] }] },
            { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }] },
          ],
        },
      },
    },
  }),
  simple('required-not-in', 'zone NotIn c: a, b, d eligible', AB, [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['c'] }] }],
        },
      },
    },
  }),
  simple('required-does-not-exist', 'accelerator DoesNotExist: a holds nginx:1.25, gpu is excluded', ['node-a'], ['nginx:1.25'], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'accelerator', operator: 'DoesNotExist' }] }],
        },
      },
    },
  }),
  simple('pinned-by-name', 'a pod pinned to one node by metadata.name (DaemonSet style) is left alone', null, [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] }],
        },
      },
    },
  }),
  simple('user-preferred', 'the user\'s own preference stays first; a and b are added', AB, [IMAGES.web], {
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 50, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] } },
          { weight: 1, preference: { matchExpressions: [{ key: 'disktype', operator: 'NotIn', values: ['hdd'] }] } },
        ],
      },
    },
  }),
  simple('required-exists-and-preferred', 'disktype Exists: a and b eligible; only a holds api', ['node-a'], [IMAGES.api], {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disktype', operator: 'Exists' }] }],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'disktype', operator: 'In', values: ['ssd'] }] } },
        ],
      },
    },
  }),
  simple('node-selector-zone-a', 'nodeSelector zone=a: a holds web, d does not', ['node-a'], [IMAGES.web], { nodeSelector: { zone: 'a' } }),
  simple('node-selector-zone-c', 'nodeSelector zone=c: no holder is eligible', null, [IMAGES.web], { nodeSelector: { zone: 'c' } }),
  simple('gpu-tolerated', 'the toleration makes the tainted holder eligible', ['node-gpu'], [IMAGES.trainer], {
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  }),
  simple('gpu-not-tolerated', 'the only holder is tainted and not tolerated', null, [IMAGES.trainer]),
  simple('gpu-selected-and-tolerated', 'nodeSelector leaves only the gpu node, which already holds the image', null, [IMAGES.trainer], {
    nodeSelector: { accelerator: 'nvidia' },
    tolerations: [
      { key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' },
      { key: 'example.com/maintenance', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 },
    ],
  }),
  simple('topology-spread', 'spread constraints are the user\'s business; web is on a and b', AB, [IMAGES.web], {
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { corpus: 'topology-spread' } }, minDomains: 2 },
      {
        maxSkew: 2,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchExpressions: [{ key: 'corpus', operator: 'Exists' }] },
        nodeAffinityPolicy: 'Honor',
        nodeTaintsPolicy: 'Ignore',
      },
    ],
  }),
  simple('pod-anti-affinity', 'anti-affinity is kept as is', AB, [IMAGES.web], {
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { corpus: 'pod-anti-affinity' } } },
        ],
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 30, podAffinityTerm: { topologyKey: 'zone', labelSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] } } },
        ],
      },
    },
  }),
  simple('pod-affinity', 'pod affinity is kept as is; a holds api', ['node-a'], [IMAGES.api], {
    affinity: {
      podAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: 'zone',
              labelSelector: { matchLabels: { app: 'cache' } },
              namespaceSelector: { matchLabels: { team: 'shop' } },
            },
          },
        ],
      },
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 5, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { corpus: 'pod-affinity' } }, namespaces: ['default'] } },
        ],
      },
    },
  }),
  simple('volumes', 'generic ephemeral, emptyDir, configMap and downward API volumes', AB, [IMAGES.web], {
    volumes: [
      {
        name: 'scratch',
        ephemeral: {
          volumeClaimTemplate: {
            metadata: { labels: { kind: 'scratch' } },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          },
        },
      },
      { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      { name: 'conf', configMap: { name: 'web-config', optional: true } },
      { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
    ],
  }),
  simple('skip-false', 'skip: "false" does not opt out', AB, [IMAGES.web], {}, { annotations: { 'image-locality.dev/skip': 'false' } }),
  simple('skip-true', 'skip: "true" opts out', null, [IMAGES.web], {}, { annotations: { 'image-locality.dev/skip': 'true' } }),
  {
    name: 'generate-name',
    why: 'a pod with generateName and no name',
    expectNodes: AB,
    pod: (ns) => ({ metadata: { generateName: 'generated-', namespace: ns }, spec: { containers: containers([IMAGES.web]) } }),
  },
  simple('empty-affinity', 'an empty affinity object', AB, [IMAGES.web], { affinity: {} }),
  simple('empty-node-affinity', 'an empty nodeAffinity object', AB, [IMAGES.web], { affinity: { nodeAffinity: {} } }),
  simple('annotation-escaping', 'annotation keys with / and values with ~ (JSON Pointer escapes) stay intact', AB, [IMAGES.web], {}, {
    annotations: { 'example.com/owner': 'shop~team', 'a.b/c': '~1/~0', 'image-locality.dev/other': 'x' },
    labels: { 'app.kubernetes.io/name': 'web', 'example.com/tier': 'front' },
  }),
  simple('daemonset-owned', 'DaemonSet pods are left alone', null, [IMAGES.web], {}, {
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: '00000000-0000-0000-0000-000000000001', controller: true }],
  }),
  simple('replicaset-owned', 'pods of other controllers are mutated', AB, [IMAGES.web], {}, {
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9', uid: '00000000-0000-0000-0000-000000000002', controller: true }],
  }),
  simple('already-bound', 'a pod created with spec.nodeName is already placed', null, [IMAGES.web], { nodeName: 'node-cold' }),
  simple('no-holder', 'no node has the image', null, ['registry.example/nowhere/app:9']),
  simple('scheduling-gates', 'gated pods are mutated like any other', AB, [IMAGES.web], { schedulingGates: [{ name: 'example.com/quota' }] }),
  simple('init-and-main', 'a holds busybox and api (205 of 205 MB)', ['node-a'], [IMAGES.api], {
    initContainers: [{ name: 'init', image: 'busybox:1.36' }],
  }),
  simple('index-docker-io', 'index.docker.io is docker.io', ['node-a'], ['index.docker.io/library/nginx:1.25']),
  simple('docker-io-short', 'docker.io/nginx is docker.io/library/nginx:latest', ['node-b'], ['docker.io/nginx']),
  simple('host-network', 'host network and ports', AB, [IMAGES.web], {
    hostNetwork: true,
    dnsPolicy: 'ClusterFirstWithHostNet',
    containers: [{ name: 'web', image: IMAGES.web, ports: [{ containerPort: 8080, hostPort: 8080, protocol: 'TCP', name: 'http' }] }],
  }),
  simple('full-container', 'resources, probes, security context, env', ['node-a'], [IMAGES.api], {
    containers: [
      {
        name: 'api',
        image: IMAGES.api,
        imagePullPolicy: 'Always',
        args: ['--port', '8080'],
        env: [
          { name: 'MODE', value: 'prod' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } },
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 5 },
        livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 10 },
        securityContext: { runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    securityContext: { fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } },
    terminationGracePeriodSeconds: 45,
    restartPolicy: 'OnFailure',
  }),
  simple('cordoned-holder', 'the only holder is cordoned', null, [IMAGES.legacy]),
  simple('partial-share', 'a holds 100 of 250 MB (below minScore), b all of it', ['node-b'], [IMAGES.web, `registry.example/shop/worker@${WORKER_DIGEST}`]),
  simple('invalid-reference', 'an unparseable image (upper case) is ignored, the valid one counts', AB, ['registry.example/Shop/BAD:1', IMAGES.web]),
  simple('dns-and-hostname', 'dnsConfig, hostname, subdomain, hostAliases', AB, [IMAGES.web], {
    hostname: 'web-0',
    subdomain: 'web',
    dnsPolicy: 'None',
    dnsConfig: { nameservers: ['10.0.0.10'], searches: ['shop.svc.cluster.local'], options: [{ name: 'ndots', value: '2' }] },
    hostAliases: [{ ip: '10.1.1.1', hostnames: ['db.local'] }],
  }),
  simple('everything', 'tolerations, spread, pod (anti-)affinity and two required terms together: a and b each match one', AB, [IMAGES.web], {
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'shop', effect: 'NoSchedule' }],
    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { corpus: 'everything' } } }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'c'] }] },
            { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }, { key: 'disktype', operator: 'In', values: ['hdd'] }] },
          ],
        },
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 20, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } },
        ],
      },
      podAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, podAffinityTerm: { topologyKey: 'zone', labelSelector: { matchLabels: { app: 'db' } } } },
        ],
      },
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { corpus: 'everything' } } },
        ],
      },
    },
  }),
];
