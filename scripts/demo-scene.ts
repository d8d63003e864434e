// What `npm run demo` puts into the cluster, and how it reports what happened.
// Orchestration (processes, signals, cleanup) is in demo.ts.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
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

const NGINX = 'nginx:1.27';
const API = 'registry.example.com/shop/api:3.4';

const nginx = reportedImage('docker.io/library/nginx:1.27', 72 * MB);
const trainer = reportedImage(TRAINER.image, TRAINER.bytes);
const redis = reportedImage('docker.io/library/redis:7.4', 45 * MB);

/** Six nodes: two hold nginx, two the ML image (one of them cordoned), two are cold. */
export const DEMO_NODES: NodeSpecInput[] = [
  { name: 'node-1', images: [nginx] },
  { name: 'node-2', images: [nginx, redis] },
  { name: 'node-3', images: [trainer] },
  { name: 'node-4', images: [trainer], unschedulable: true },
  { name: 'node-5', images: [] },
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
export function formatPods(pods: V1Pod[], nodes: V1Node[], reasons: Map<string, string | undefined>): string {
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
  return `${table}\n${footnotes ? footnotes + '\n' : ''}\n${tally}`;
}
