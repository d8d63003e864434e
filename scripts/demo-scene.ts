// What `npm run demo` puts into the cluster, and how it reports what happened.
// Orchestration (processes, signals, cleanup) is in demo.ts.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { ImageCache } from '../src/warm/imagecache.js';
import { makePod, type NodeSpecInput } from '../test/support/objects.js';
import {
  MB,
  TRAINER,
  formatTable,
  imagesPresent,
  injectedPreferences,
  podImages,
  reportedImage,
} from '../test/e2e/support/placement.js';

export const OPTED_IN = 'demo';
export const PLAIN = 'plain';

export const NGINX = 'nginx:1.27';
export const API = 'registry.example.com/shop/api:3.4';

const nginx = reportedImage('docker.io/library/nginx:1.27', 72 * MB);
const trainer = reportedImage(TRAINER.image, TRAINER.bytes);
const redis = reportedImage('docker.io/library/redis:7.4', 45 * MB);

/** The label the operator-declared ImageCache selects nodes by. */
export const BASE_POOL = { key: 'pool', value: 'web' } as const;
const web = { [BASE_POOL.key]: BASE_POOL.value };

/**
 * Six nodes: two hold nginx, two the ML image (one of them cordoned), two are cold.
 * Four carry pool=web (one of them cordoned) for the ImageCache demo/base-images.
 */
export const DEMO_NODES: NodeSpecInput[] = [
  { name: 'node-1', images: [nginx], labels: web },
  { name: 'node-2', images: [nginx, redis], labels: web },
  { name: 'node-3', images: [trainer] },
  { name: 'node-4', images: [trainer], unschedulable: true, labels: web },
  { name: 'node-5', images: [], labels: web },
  { name: 'node-6', images: [redis] },
];

/** For waiting until the webhook's view has caught up: image -> nodes it should prefer. */
export const EXPECTED_PREFERENCES: Array<{ image: string; nodes: string[] }> = [
  { image: NGINX, nodes: ['node-1', 'node-2'] },
  { image: TRAINER.image, nodes: ['node-3'] },
];

function pod(name: string, namespace: string, image: string, annotations?: Record<string, string>): V1Pod {
  const p = makePod(name, namespace, [image], annotations ? { annotations } : {});
  p.spec!.containers[0]!.resources = { requests: { cpu: '100m', memory: '128Mi' } };
  return p;
}

export const DEMO_PODS: V1Pod[] = [
  pod('web', OPTED_IN, NGINX),
  pod('trainer', OPTED_IN, TRAINER.image),
  pod('web-skip', OPTED_IN, NGINX, { 'image-locality.dev/skip': 'true' }),
  pod('api', OPTED_IN, API),
  pod('web', PLAIN, NGINX),
];

// ----------------------------------------------------------------- warming

/** Policy ConfigMap content: warming on, affinity left at its defaults. */
export const WARM_MIN_NODES = 2;
export const WARM_POLICY = `warm:\n  minNodes: ${WARM_MIN_NODES}\n`;

/**
 * Images the pods above leave on fewer than WARM_MIN_NODES schedulable nodes, for
 * which the webhook records demand: api's (on no node) and the ML image (node-4,
 * the other node holding it, is cordoned).
 */
export const DEMAND_IMAGES: readonly string[] = [API, TRAINER.image];

/** An ImageCache an operator declares: nginx on every pool=web node. */
export const BASE_CACHE = {
  namespace: OPTED_IN,
  name: 'base-images',
  spec: { images: [NGINX], nodeSelector: { [BASE_POOL.key]: BASE_POOL.value } },
} as const;

/** Created once the api image has been warmed: the next replica of pod "api". */
export const API_REPLICA: V1Pod = pod('api-2', OPTED_IN, API);

/** The name a runtime reports for a reference (only Docker Hub short names differ in this scene). */
export function fullImageName(reference: string): string {
  const first = reference.split('/')[0] ?? '';
  if (!reference.includes('/')) return `docker.io/library/${reference}`;
  return first.includes('.') || first.includes(':') || first === 'localhost' ? reference : `docker.io/${reference}`;
}

function cacheImages(c: ImageCache): string[] {
  return c.status?.images?.map((i) => i.reference ?? i.image) ?? c.spec.images;
}

function isDemand(c: ImageCache): boolean {
  return c.metadata.labels?.['image-locality.dev/source'] === 'demand';
}

/** Declared caches first, then by namespace/name. */
function sortCaches(caches: readonly ImageCache[]): ImageCache[] {
  const key = (c: ImageCache): string => `${isDemand(c) ? 1 : 0}/${c.metadata.namespace}/${c.metadata.name}`;
  return [...caches].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

/**
 * `kubectl get ic -A`, with the image and where the cache came from instead of AGE.
 * `podsNeeding` names, by full image name, the scene's pods that use the image.
 */
export function formatCaches(caches: readonly ImageCache[], podsNeeding: (image: string) => string[]): string {
  return formatTable(
    ['NAMESPACE', 'NAME', 'IMAGES', 'NODES', 'READY', 'IMAGE', 'FROM'],
    sortCaches(caches).map((c) => {
      const ready = c.status?.conditions?.find((x) => x.type === 'Ready')?.status ?? '';
      const images = cacheImages(c);
      let from: string;
      if (isDemand(c)) {
        const pods = [...new Set(images.flatMap((i) => podsNeeding(fullImageName(i))))];
        const minNodes = (c.spec as { minNodes?: number }).minNodes;
        from = `demand of pod ${pods.length > 0 ? pods.join(', ') : '?'}${minNodes ? ` (minNodes ${minNodes})` : ''}`;
      } else {
        const selector = Object.entries(c.spec.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`);
        from = `declared; nodes ${selector.length > 0 ? selector.join(',') : '(all)'}`;
      }
      return [
        c.metadata.namespace ?? '',
        c.metadata.name ?? '',
        String(c.status?.imageCount ?? images.length),
        c.status?.nodes ?? '',
        ready,
        images.join(', '),
        from,
      ];
    }),
  );
}

/**
 * One row per cache image, one column per node: the state the cache's status reports
 * for that node. `cordoned` marks a node the cache's selector picks that gets no pulls
 * because it is cordoned; `-` a node that is not a target. PULLED ON: the targets where
 * a pre-pull pod ran (`pulledOn`, from the stand-in kubelet); the others held it already.
 */
export function formatCacheNodes(caches: readonly ImageCache[], nodes: readonly V1Node[], pulledOn: (image: string) => string[]): string {
  const sorted = [...nodes].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  const rows: string[][] = [];
  for (const c of sortCaches(caches)) {
    const minNodes = (c.spec as { minNodes?: number }).minNodes;
    const selector = Object.entries(c.spec.nodeSelector ?? {});
    for (const image of c.status?.images ?? []) {
      const label = (c.status?.images?.length ?? 0) > 1 ? `${c.metadata.name} ${image.reference ?? image.image}` : c.metadata.name!;
      const targets = new Set(image.nodes.map((e) => e.node));
      const pulled = [...new Set(pulledOn(image.reference ?? image.image))].filter((n) => targets.has(n));
      rows.push([
        label,
        ...sorted.map((n) => {
          const entry = image.nodes.find((e) => e.node === n.metadata!.name);
          if (entry) return entry.state;
          const selected = selector.every(([k, v]) => n.metadata?.labels?.[k] === v);
          return minNodes === undefined && selected && n.spec?.unschedulable ? 'cordoned' : '-';
        }),
        pulled.length > 0 ? pulled.sort().join(', ') : '-',
      ]);
    }
  }
  return formatTable(['IMAGECACHE', ...sorted.map((n) => n.metadata!.name!), 'PULLED ON'], rows);
}

/** Node names of a sorted list, "node-1, node-2 and node-5". */
export function joinNames(names: readonly string[]): string {
  const sorted = [...names].sort();
  return sorted.length <= 1 ? (sorted[0] ?? '') : `${sorted.slice(0, -1).join(', ')} and ${sorted[sorted.length - 1]}`;
}

// --------------------------------------------------------------- reporting

function sizeText(bytes: number): string {
  if (bytes >= 1000 * MB) return `${(bytes / (1000 * MB)).toFixed(1)} GB`;
  if (bytes >= MB) return `${Math.round(bytes / MB)} MB`;
  return `${Math.round(bytes / 1000)} kB`;
}

/** The tagged names a node reports (the repo@sha256 names are left out for brevity). */
function nodeImagesText(node: V1Node): string {
  const images = (node.status?.images ?? []).map((i) => {
    const names = i.names ?? [];
    const tagged = names.find((n) => !n.includes('@')) ?? names[0] ?? '?';
    return `${tagged} (${sizeText(i.sizeBytes ?? 0)})`;
  });
  return images.length > 0 ? images.join(', ') : '(none)';
}

export function formatNodes(nodes: V1Node[]): string {
  const sorted = [...nodes].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  return formatTable(
    ['NODE', 'STATE', 'IMAGES IT HOLDS (status.images)'],
    sorted.map((n) => {
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const state = [ready ? 'Ready' : 'NotReady', ...(n.spec?.unschedulable ? ['cordoned'] : [])].join(', ');
      return [n.metadata!.name!, state, nodeImagesText(n)];
    }),
  );
}

/**
 * One row per pod: what image-locality injected (or, by footnote, why it injected
 * nothing, in the webhook's own words), where the scheduler put it, and whether the
 * image was already there.
 */
export function formatPods(
  pods: V1Pod[],
  nodes: V1Node[],
  reasons: Map<string, string | undefined>,
  options: { tally?: boolean } = {},
): string {
  const byName = new Map(nodes.map((n) => [n.metadata!.name!, n]));
  const notes: string[] = [];
  let steeredWarm = 0;
  let steered = 0;
  let othersWarm = 0;
  const rows = pods.map((p) => {
    const ns = p.metadata!.namespace!;
    const name = p.metadata!.name!;
    const injected = injectedPreferences(p);
    let preference: string;
    if (injected.length > 0) {
      preference = injected.map(([n, w]) => `${n}:${w}`).join(', ');
    } else {
      notes.push(reasons.get(`${ns}/${name}`) ?? 'the webhook logged no decision for this pod (failed open?)');
      preference = `- (${notes.length})`;
    }
    const node = p.spec?.nodeName ?? '';
    const { present, total } = imagesPresent(p, byName.get(node));
    const there = present === total ? 'yes' : present === 0 ? 'no' : `${present} of ${total}`;
    if (injected.length > 0) {
      steered++;
      if (present === total) steeredWarm++;
    } else if (present === total) othersWarm++;
    return [name, ns, podImages(p).join(', '), preference, node || '(pending)', there];
  });
  const table = formatTable(['POD', 'NAMESPACE', 'IMAGES', 'PREFERENCE INJECTED', 'NODE', 'IMAGE THERE'], rows);
  const footnotes = notes.map((n, i) => `  (${i + 1}) not mutated: ${n}`).join('\n');
  const tally =
    `${steeredWarm} of ${steered} steered pods run where their image already is; ` +
    `${othersWarm} of ${pods.length - steered} others do (by chance or the scheduler's own ImageLocality score).`;
  if (options.tally === false) return `${table}${footnotes ? '\n' + footnotes : ''}`;
  return `${table}\n${footnotes ? footnotes + '\n' : ''}\n${tally}`;
}
