import { expect } from 'chai';
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  CONDITION_READY,
  DEFAULT_MAX_NODE_ENTRIES,
  GO_DURATION_PATTERN,
  IMAGECACHE_API_VERSION,
  IMAGECACHE_CRD_NAME,
  IMAGECACHE_GROUP,
  IMAGECACHE_KIND,
  IMAGECACHE_PLURAL,
  IMAGECACHE_SHORT_NAME,
  IMAGECACHE_VERSION,
  MAX_IMAGES,
  REFRESH_ANNOTATION,
  ReadyReason,
  buildImageCacheStatus,
  buildInvalidSpecStatus,
  isLabelKey,
  parseGoDuration,
  parseGoDurationNs,
  parseImageCacheSpec,
  refreshRequested,
  rfc3339,
  setCondition,
  statusChanged,
  type BuildStatusInput,
  type ImageCache,
  type ImageCacheStatus,
  type ImageNodeObservation,
  type NormalizedImage,
} from '../../src/warm/imagecache.js';

const repo = new URL('../../../', import.meta.url);
// Schema documents are deeply nested and loosely typed; `any` keeps the assertions readable.
const readYaml = (rel: string) => parseYaml(fs.readFileSync(new URL(rel, repo), 'utf8')) as Record<string, any>;

const SHA = 'sha256:' + '0123456789abcdef'.repeat(4);
const T0 = new Date('2025-06-01T10:00:00.000Z');
const T1 = new Date('2025-06-01T10:05:00.000Z');
const T2 = new Date('2025-06-01T11:00:00.000Z');

function okSpec(obj: unknown) {
  const r = parseImageCacheSpec(obj);
  if (!r.ok) throw new Error(`expected ok, got: ${r.errors.join('; ')}`);
  return r;
}
function errorsOf(obj: unknown): string[] {
  const r = parseImageCacheSpec(obj);
  if (r.ok) throw new Error('expected errors');
  return r.errors;
}

describe('warm/imagecache: Go durations', function () {
  it('parses what Go parses, exactly', function () {
    expect(parseGoDuration('6h')).to.equal(6 * 3_600_000);
    expect(parseGoDuration('1h30m')).to.equal(90 * 60_000);
    expect(parseGoDuration('1.5s')).to.equal(1500);
    expect(parseGoDuration('250ms')).to.equal(250);
    expect(parseGoDuration('1m0.5s')).to.equal(60_500);
    expect(parseGoDuration('10us')).to.equal(0.01);
    expect(parseGoDuration('10µs')).to.equal(0.01); // micro sign U+00B5
    expect(parseGoDuration('10μs')).to.equal(0.01); // Greek mu U+03BC
    expect(parseGoDurationNs('8760h1ns')).to.equal(8760n * 3_600_000_000_000n + 1n);
    expect(parseGoDurationNs('0.0000000019s'), 'fractions truncate to whole ns').to.equal(1n);
  });

  it('rejects what the CRD pattern rejects, and int64 overflow', function () {
    for (const bad of ['', '6', '6 hours', '-1h', '+1h', '1d', '.5h', '1.h', '1h 30m', ' 1h', '1H', 'PT1H', '3000000h']) {
      expect(parseGoDuration(bad), bad).to.equal(undefined);
    }
    expect(parseGoDuration(42 as unknown as string)).to.equal(undefined);
  });
});

describe('warm/imagecache: parseImageCacheSpec', function () {
  it('normalizes images, keeps the written reference for pulling, and keeps spec order', function () {
    const r = okSpec({ images: ['python:3.12-slim', `ghcr.io/org/app:1.0@${SHA}`, 'localhost:5000/tools/x'] });
    expect(r.spec.images).to.deep.equal([
      { image: 'docker.io/library/python:3.12-slim', reference: 'python:3.12-slim' },
      { image: `ghcr.io/org/app@${SHA}`, reference: `ghcr.io/org/app:1.0@${SHA}` },
      { image: 'localhost:5000/tools/x:latest', reference: 'localhost:5000/tools/x' },
    ]);
    expect(r.spec).to.include({ refreshIntervalMs: undefined });
    expect(r.spec.nodeSelector).to.deep.equal({});
    expect(r.spec.tolerations).to.deep.equal([]);
    expect(r.spec.imagePullSecrets).to.deep.equal([]);
    expect(r.warnings).to.deep.equal([]);
  });

  it('collapses entries naming the same image, with a warning each; similar tags stay distinct', function () {
    const r = okSpec({
      images: ['nginx', 'docker.io/library/nginx:latest', 'nginx:1.2', 'index.docker.io/library/nginx', 'nginx:1.25', 'nginx:latest'],
    });
    expect(r.spec.images).to.deep.equal([
      { image: 'docker.io/library/nginx:latest', reference: 'nginx' },
      { image: 'docker.io/library/nginx:1.2', reference: 'nginx:1.2' },
      { image: 'docker.io/library/nginx:1.25', reference: 'nginx:1.25' },
    ]);
    expect(r.warnings).to.have.length(3);
    expect(r.warnings[0]).to.equal(
      'spec.images[1]: "docker.io/library/nginx:latest" is the same image as spec.images[0] (docker.io/library/nginx:latest); listed once',
    );
    // Same digest under two tags is one image.
    expect(okSpec({ images: [`a:1@${SHA}`, `a:2@${SHA}`] }).spec.images).to.have.length(1);
  });

  it('names every invalid image with its index and the reason', function () {
    const errors = errorsOf({ images: ['nginx', 'Nginx:latest', 'ok/image', 'bad image', 7, '', ' nginx'] });
    expect(errors).to.have.length(5);
    expect(errors[0]).to.match(/^spec\.images\[1\]: "Nginx:latest" is not a valid image reference: \S/);
    expect(errors[1]).to.match(/^spec\.images\[3\]: "bad image" is not a valid image reference/);
    expect(errors[2]).to.equal('spec.images[4]: must be a string, got number 7');
    expect(errors[3]).to.equal('spec.images[5]: must not be empty');
    expect(errors[4]).to.match(/^spec\.images\[6\]: " nginx" has leading or trailing whitespace/);
  });

  it('requires 1 to 256 images and an object spec', function () {
    expect(errorsOf({})).to.deep.equal(['spec.images: required (a list of 1 to 256 image references)']);
    expect(errorsOf({ images: [] })).to.deep.equal(['spec.images: must list at least one image']);
    expect(errorsOf({ images: 'nginx' })[0]).to.match(/^spec\.images: must be a list/);
    expect(errorsOf({ images: Array.from({ length: MAX_IMAGES + 1 }, (_, i) => `i${i}`) })[0]).to.match(/limit is 256/);
    expect(okSpec({ images: Array.from({ length: MAX_IMAGES }, (_, i) => `i${i}`) }).spec.images).to.have.length(256);
    for (const bad of [null, undefined, 'x', [], 3]) expect(errorsOf(bad)[0]).to.match(/^spec: must be an object/);
  });

  it('validates nodeSelector keys and values as labels', function () {
    const r = okSpec({ images: ['a'], nodeSelector: { 'nvidia.com/gpu.present': 'true', 'kubernetes.io/hostname': 'n-1', zone: '' } });
    expect(r.spec.nodeSelector).to.deep.equal({ 'kubernetes.io/hostname': 'n-1', 'nvidia.com/gpu.present': 'true', zone: '' });
    const errors = errorsOf({ images: ['a'], nodeSelector: { 'bad key': 'x', ok: 'a b', n: 3 } });
    expect(errors).to.deep.equal([
      'spec.nodeSelector["bad key"]: "bad key" is not a valid label key',
      'spec.nodeSelector["n"]: value must be a string, got number 3',
      'spec.nodeSelector["ok"]: "a b" is not a valid label value',
    ]);
    for (const k of ['a', 'a.b/c', 'A_b-c.d', 'x'.repeat(63), 'example.com/' + 'x'.repeat(63)]) expect(isLabelKey(k), k).to.equal(true);
    for (const k of ['', '/a', 'a/', 'a/b/c', 'UP.com/a', '-a', 'x'.repeat(64), 'a b']) expect(isLabelKey(k), k).to.equal(false);
    expect(errorsOf({ images: ['a'], nodeSelector: ['x'] })[0]).to.match(/^spec\.nodeSelector: must be a map/);
  });

  it('validates tolerations like the API server does for pods', function () {
    const tolerations = [
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'dedicated', operator: 'Equal', value: 'ml' },
      { operator: 'Exists' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
    ];
    expect(okSpec({ images: ['a'], tolerations }).spec.tolerations).to.deep.equal(tolerations);
    const errors = errorsOf({
      images: ['a'],
      tolerations: [
        { key: 'k', operator: 'Exists', value: 'v' },
        { key: 'k', operator: 'In' },
        { value: 'x' },
        { key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 },
        { key: 'k', operator: 'Exists', effect: 'Sometimes' },
        { key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1.5 },
        'x',
        { key: 3 },
      ],
    });
    expect(errors).to.deep.equal([
      'spec.tolerations[0].value: must be empty when operator is Exists',
      'spec.tolerations[1].operator: must be Exists or Equal, got "In"',
      'spec.tolerations[2].key: an empty key requires operator Exists',
      'spec.tolerations[3].tolerationSeconds: only allowed with effect NoExecute',
      'spec.tolerations[4].effect: must be NoSchedule, PreferNoSchedule, NoExecute or empty, got "Sometimes"',
      'spec.tolerations[5].tolerationSeconds: must be an integer, got number 1.5',
      'spec.tolerations[6]: must be an object, got "x"',
      'spec.tolerations[7].key: must be a string, got number 3',
    ]);
  });

  it('dedupes imagePullSecrets and checks their names', function () {
    expect(okSpec({ images: ['a'], imagePullSecrets: [{ name: 'b' }, { name: 'a' }, { name: 'b' }] }).spec.imagePullSecrets).to.deep.equal([
      { name: 'b' },
      { name: 'a' },
    ]);
    expect(errorsOf({ images: ['a'], imagePullSecrets: [{}, { name: 'Bad_Name' }] })).to.deep.equal([
      'spec.imagePullSecrets[0].name: required, a non-empty string',
      'spec.imagePullSecrets[1].name: "Bad_Name" is not a valid Secret name',
    ]);
  });

  it('parses refreshInterval to ms within 1m..8760h', function () {
    expect(okSpec({ images: ['a'], refreshInterval: '6h' }).spec.refreshIntervalMs).to.equal(21_600_000);
    expect(okSpec({ images: ['a'], refreshInterval: '1m' }).spec.refreshIntervalMs).to.equal(60_000);
    expect(okSpec({ images: ['a'], refreshInterval: '8760h' }).spec.refreshIntervalMs).to.equal(8760 * 3_600_000);
    expect(errorsOf({ images: ['a'], refreshInterval: '59.999s' })).to.deep.equal(['spec.refreshInterval: "59.999s" is out of range; use 1m to 8760h']);
    expect(errorsOf({ images: ['a'], refreshInterval: '8760h1ns' })[0]).to.match(/out of range/);
    expect(errorsOf({ images: ['a'], refreshInterval: '6 hours' })).to.deep.equal([
      'spec.refreshInterval: "6 hours" is not a duration such as "30m", "6h" or "1h30m"',
    ]);
    expect(errorsOf({ images: ['a'], refreshInterval: 3600 })[0]).to.match(/is not a duration/);
  });

  it('reports problems in every field at once', function () {
    const errors = errorsOf({ images: [], nodeSelector: { '!': 'x' }, tolerations: {}, imagePullSecrets: 'x', refreshInterval: '1s' });
    expect(errors.map((e) => e.split(':')[0])).to.deep.equal([
      'spec.images',
      'spec.nodeSelector["!"]',
      'spec.tolerations',
      'spec.imagePullSecrets',
      'spec.refreshInterval',
    ]);
  });
});

describe('warm/imagecache: refresh annotation', function () {
  it('asks for a refresh when the annotation holds a value the status has not handled', function () {
    const obj = (annotation?: string, observed?: string) => ({
      metadata: annotation === undefined ? {} : { annotations: { [REFRESH_ANNOTATION]: annotation } },
      status: observed === undefined ? {} : { observedRefresh: observed },
    });
    expect(refreshRequested(obj())).to.equal(false);
    expect(refreshRequested(obj('1'))).to.equal(true);
    expect(refreshRequested(obj('1', '1'))).to.equal(false);
    expect(refreshRequested(obj('2', '1'))).to.equal(true);
    expect(refreshRequested(obj(undefined, '1'))).to.equal(false);
    expect(refreshRequested(undefined)).to.equal(false);
  });
});

describe('warm/imagecache: buildImageCacheStatus', function () {
  const images: NormalizedImage[] = [
    { image: 'docker.io/library/redis:7', reference: 'redis:7' },
    { image: 'docker.io/library/nginx:1.25', reference: 'nginx:1.25' },
  ];
  const [redis, nginx] = ['docker.io/library/redis:7', 'docker.io/library/nginx:1.25'];
  const obs = (image: string, node: string, state: ImageNodeObservation['state'], extra: Partial<ImageNodeObservation> = {}): ImageNodeObservation => ({
    image,
    node,
    state,
    ...extra,
  });
  const base = (over: Partial<BuildStatusInput> = {}): BuildStatusInput => ({
    generation: 3,
    images,
    wantedNodes: ['n2', 'n1', 'n3'],
    observations: [],
    now: T0,
    ...over,
  });
  const ready = (s: ImageCacheStatus) => s.conditions!.find((c) => c.type === CONDITION_READY)!;

  it('lists every (image, wanted node) pair, sorted, with exact counts', function () {
    const s = buildImageCacheStatus(
      base({
        observations: [
          obs(nginx, 'n1', 'cached', { lastPulledTime: '2025-06-01T09:00:00.123Z' }),
          obs(redis, 'n1', 'cached'),
          obs(nginx, 'n2', 'pulling'),
          obs(redis, 'n3', 'failed', { reason: 'ErrImagePull: not found' }),
          obs(nginx, 'gone-node', 'cached'),
          obs('docker.io/library/other:1', 'n1', 'cached'),
        ],
      }),
    );
    expect(s).to.deep.equal({
      observedGeneration: 3,
      imageCount: 2,
      wantedNodes: 3,
      cachedNodes: 1,
      nodes: '1/3',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'PullFailed',
          message: '2 of 6 image pulls done; 1 failed, e.g. docker.io/library/redis:7 on n3: ErrImagePull: not found',
          lastTransitionTime: '2025-06-01T10:00:00Z',
          observedGeneration: 3,
        },
      ],
      images: [
        {
          image: nginx,
          reference: 'nginx:1.25',
          cachedNodes: 1,
          wantedNodes: 3,
          nodes: [
            { node: 'n1', state: 'cached', lastPulledTime: '2025-06-01T09:00:00Z', lastTransitionTime: '2025-06-01T10:00:00Z' },
            { node: 'n2', state: 'pulling', lastTransitionTime: '2025-06-01T10:00:00Z' },
            { node: 'n3', state: 'pending', lastTransitionTime: '2025-06-01T10:00:00Z' },
          ],
        },
        {
          image: redis,
          reference: 'redis:7',
          cachedNodes: 1,
          failedNodes: 1,
          wantedNodes: 3,
          nodes: [
            { node: 'n1', state: 'cached', lastTransitionTime: '2025-06-01T10:00:00Z' },
            { node: 'n2', state: 'pending', lastTransitionTime: '2025-06-01T10:00:00Z' },
            { node: 'n3', state: 'failed', reason: 'ErrImagePull: not found', lastTransitionTime: '2025-06-01T10:00:00Z' },
          ],
        },
      ],
    });
  });

  it('does not depend on the order of its inputs', function () {
    const observations = [obs(nginx, 'n1', 'cached'), obs(redis, 'n2', 'pulling'), obs(redis, 'n1', 'failed', { reason: 'x' })];
    const a = buildImageCacheStatus(base({ observations }));
    const b = buildImageCacheStatus(
      base({ images: [...images].reverse(), wantedNodes: ['n3', 'n1', 'n2', 'n1'], observations: [...observations].reverse() }),
    );
    expect(JSON.stringify(a)).to.equal(JSON.stringify(b));
  });

  it('sets Ready by precedence: failed > pulling > pending; AllCached; no nodes; no images', function () {
    const all = (state: ImageNodeObservation['state']) =>
      images.flatMap((i) => ['n1', 'n2', 'n3'].map((n) => obs(i.image, n, state)));
    const allCached = buildImageCacheStatus(base({ observations: all('cached') }));
    expect(ready(allCached)).to.include({ status: 'True', reason: ReadyReason.AllCached, message: '2 images cached on all 3 selected nodes' });
    expect(allCached).to.include({ cachedNodes: 3, nodes: '3/3' });
    const pulling = buildImageCacheStatus(base({ observations: [obs(nginx, 'n1', 'pulling'), obs(redis, 'n1', 'cached')] }));
    expect(ready(pulling)).to.include({ status: 'False', reason: ReadyReason.Pulling, message: '1 of 6 image pulls done; 1 in progress' });
    const pending = buildImageCacheStatus(base());
    expect(ready(pending)).to.include({ reason: ReadyReason.Pending, message: '0 of 6 image pulls done; 6 waiting' });
    const none = buildImageCacheStatus(base({ wantedNodes: [] }));
    expect(ready(none)).to.include({ status: 'False', reason: ReadyReason.NoMatchingNodes });
    expect(none).to.include({ wantedNodes: 0, cachedNodes: 0, nodes: '0/0' });
    const noImages = buildImageCacheStatus(base({ images: [] }));
    expect(ready(noImages)).to.include({ reason: ReadyReason.NoImages });
    expect(noImages.cachedNodes).to.equal(0);
    const one = buildImageCacheStatus(base({ images: [images[0]!], wantedNodes: ['n1'], observations: [obs(redis, 'n1', 'cached')] }));
    expect(ready(one).message).to.equal('1 image cached on all 1 selected node');
  });

  it('keeps transition times of unchanged states and conditions, so a rebuild is not a change', function () {
    const first = buildImageCacheStatus(base({ observations: [obs(nginx, 'n1', 'pulling')], now: T0 }));
    const same = buildImageCacheStatus(base({ observations: [obs(nginx, 'n1', 'pulling')], previous: first, now: T2 }));
    expect(statusChanged(first, same)).to.equal(false);

    const moved = buildImageCacheStatus(
      base({ observations: [obs(nginx, 'n1', 'cached', { lastPulledTime: T1 })], previous: first, now: T1 }),
    );
    expect(statusChanged(first, moved)).to.equal(true);
    const n1 = moved.images!.find((i) => i.image === nginx)!.nodes[0]!;
    expect(n1).to.deep.equal({ node: 'n1', state: 'cached', lastPulledTime: rfc3339(T1), lastTransitionTime: rfc3339(T1) });
    const untouched = moved.images!.find((i) => i.image === redis)!.nodes[0]!;
    expect(untouched.lastTransitionTime, 'pending since T0').to.equal(rfc3339(T0));
    // Ready went Pulling -> Pending: still False, so its transition time stays.
    expect(ready(moved)).to.include({ reason: ReadyReason.Pending, lastTransitionTime: rfc3339(T0) });

    // lastPulledTime survives an observation that does not carry it (e.g. after a restart).
    const later = buildImageCacheStatus(base({ observations: [obs(nginx, 'n1', 'cached')], previous: moved, now: T2 }));
    expect(later.images!.find((i) => i.image === nginx)!.nodes[0]!.lastPulledTime).to.equal(rfc3339(T1));
    expect(statusChanged(moved, later)).to.equal(false);
  });

  it('takes explicit transition times, drops unparseable times, bounds reasons', function () {
    const s = buildImageCacheStatus(
      base({
        wantedNodes: ['n1'],
        images: [images[0]!],
        observations: [obs(redis, 'n1', 'failed', { reason: 'x'.repeat(5000), lastTransitionTime: '2025-01-01T00:00:00+02:00', lastPulledTime: 'yesterday' })],
      }),
    );
    const n = s.images![0]!.nodes[0]!;
    expect(n.lastTransitionTime).to.equal('2024-12-31T22:00:00Z');
    expect(n).to.not.have.property('lastPulledTime');
    expect(n.reason).to.have.length(1024);
    expect(ready(s).message.length).to.be.at.most(32768);
  });

  it('carries observedRefresh and foreign conditions over from the previous status', function () {
    const previous: ImageCacheStatus = {
      observedRefresh: 'r1',
      conditions: [{ type: 'Acme/Audited', status: 'True', reason: 'Done', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }],
    };
    const s = buildImageCacheStatus(base({ previous }));
    expect(s.observedRefresh).to.equal('r1');
    expect(s.conditions!.map((c) => c.type)).to.deep.equal(['Acme/Audited', 'Ready']);
    expect(buildImageCacheStatus(base({ previous, observedRefresh: 'r2' })).observedRefresh).to.equal('r2');
  });

  it('bounds node entries for large clusters: problems first, cached ones omitted, counts exact', function () {
    const nodes = Array.from({ length: 1000 }, (_, i) => `node-${String(i).padStart(4, '0')}`);
    const observations = [
      ...nodes.map((n) => obs(nginx, n, 'cached')),
      ...nodes.map((n, i) => obs(redis, n, i % 100 === 7 ? 'failed' : i % 50 === 3 ? 'pulling' : 'cached', { reason: 'r' })),
    ];
    const s = buildImageCacheStatus(base({ wantedNodes: [...nodes].reverse(), observations, maxNodeEntries: 100 }));
    const [ng, rd] = [s.images!.find((i) => i.image === nginx)!, s.images!.find((i) => i.image === redis)!];
    expect(ng).to.include({ cachedNodes: 1000, wantedNodes: 1000, omittedNodes: 950 });
    expect(ng.nodes).to.have.length(50);
    expect(rd).to.include({ cachedNodes: 970, failedNodes: 10, wantedNodes: 1000, omittedNodes: 950 });
    const states = rd.nodes.map((n) => n.state);
    expect(states.filter((x) => x === 'failed')).to.have.length(10);
    expect(states.filter((x) => x === 'pulling')).to.have.length(20);
    expect(states.filter((x) => x === 'cached')).to.have.length(20);
    const names = rd.nodes.map((n) => n.node);
    expect(names).to.deep.equal([...names].sort());
    expect(s).to.include({ cachedNodes: 970, nodes: '970/1000' });
    // Default bound keeps 256 images x 5000 nodes to a few thousand entries.
    const big = buildImageCacheStatus(
      base({
        images: Array.from({ length: 256 }, (_, i) => ({ image: `r.io/i${i}:1`, reference: `r.io/i${i}:1` })),
        wantedNodes: Array.from({ length: 5000 }, (_, i) => `n${i}`),
      }),
    );
    const entries = big.images!.reduce((sum, i) => sum + i.nodes.length, 0);
    expect(entries).to.be.at.most(DEFAULT_MAX_NODE_ENTRIES);
    expect(JSON.stringify(big).length).to.be.lessThan(400_000);
  });
});

describe('warm/imagecache: statusChanged, setCondition, invalid spec', function () {
  it('ignores key order and undefined members, not values or list order', function () {
    const a: ImageCacheStatus = { observedGeneration: 1, nodes: '0/1', images: [] };
    const b = { images: [], nodes: '0/1', observedGeneration: 1, observedRefresh: undefined } as ImageCacheStatus;
    expect(statusChanged(a, b)).to.equal(false);
    expect(statusChanged(a, { ...a, nodes: '1/1' })).to.equal(true);
    expect(statusChanged(undefined, {})).to.equal(false);
    expect(statusChanged(null, { nodes: '0/0' })).to.equal(true);
    const c1 = setCondition(undefined, { type: 'A', status: 'True', reason: 'R', message: '' }, T0);
    const c2 = setCondition(c1, { type: 'B', status: 'True', reason: 'R', message: '' }, T0);
    expect(statusChanged({ conditions: c2 }, { conditions: [...c2].reverse() })).to.equal(true);
  });

  it('setCondition keeps lastTransitionTime while the status stays', function () {
    const c1 = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: 'a' }, T0);
    const c2 = setCondition(c1, { type: 'Ready', status: 'False', reason: 'Pulling', message: 'b' }, T1);
    expect(c2[0]).to.include({ reason: 'Pulling', message: 'b', lastTransitionTime: rfc3339(T0) });
    const c3 = setCondition(c2, { type: 'Ready', status: 'True', reason: 'AllCached', message: 'c', observedGeneration: 4 }, T2);
    expect(c3[0]).to.deep.equal({ type: 'Ready', status: 'True', reason: 'AllCached', message: 'c', lastTransitionTime: rfc3339(T2), observedGeneration: 4 });
  });

  it('reports an invalid spec on Ready and drops per-image state', function () {
    const previous = buildImageCacheStatus({ generation: 1, images: [{ image: 'r/x:1', reference: 'r/x:1' }], wantedNodes: ['n'], observations: [], now: T0, observedRefresh: 'r9' });
    const s = buildInvalidSpecStatus({ generation: 2, errors: ['spec.images: must list at least one image', 'spec.refreshInterval: bad'], previous, now: T1 });
    expect(s).to.deep.equal({
      observedGeneration: 2,
      observedRefresh: 'r9',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'InvalidSpec',
          message: 'spec.images: must list at least one image; spec.refreshInterval: bad',
          lastTransitionTime: rfc3339(T0),
          observedGeneration: 2,
        },
      ],
      images: [],
    });
  });
});

describe('warm/imagecache: CRD and example agree with the code', function () {
  const crd = readYaml('webhook-config/imagecache-crd.yaml');
  const version = crd['spec'].versions[0];
  const schema = version.schema.openAPIV3Schema;
  const spec = schema.properties.spec.properties;

  it('names', function () {
    expect(crd['metadata'].name).to.equal(IMAGECACHE_CRD_NAME);
    expect(crd['spec'].group).to.equal(IMAGECACHE_GROUP);
    expect(crd['spec'].scope).to.equal('Namespaced');
    expect(crd['spec'].names).to.include({ kind: IMAGECACHE_KIND, plural: IMAGECACHE_PLURAL });
    expect(crd['spec'].names.shortNames).to.deep.equal([IMAGECACHE_SHORT_NAME]);
    expect(version.name).to.equal(IMAGECACHE_VERSION);
    expect(version.subresources).to.deep.equal({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).to.include.members(['Images', 'Nodes', 'Age']);
  });

  it('limits and patterns', function () {
    expect(spec.images).to.include({ minItems: 1, maxItems: MAX_IMAGES });
    expect(spec.refreshInterval.pattern).to.equal(GO_DURATION_PATTERN);
    expect(schema.required).to.deep.equal(['spec']);
    expect(spec.images.items.minLength).to.equal(1);
    const states = schema.properties.status.properties.images.items.properties.nodes.items.properties.state.enum;
    expect(states).to.deep.equal(['pending', 'pulling', 'cached', 'failed']);
  });

  it('the example is a valid ImageCache', function () {
    const example = readYaml('webhook-config/examples/imagecache.yaml') as ImageCache;
    expect(example.apiVersion).to.equal(IMAGECACHE_API_VERSION);
    expect(example.kind).to.equal(IMAGECACHE_KIND);
    const r = okSpec(example.spec);
    expect(r.spec.images.map((i) => i.image)).to.include('docker.io/library/python:3.12-slim');
    expect(r.spec.refreshIntervalMs).to.equal(6 * 3_600_000);
    expect(r.warnings).to.deep.equal([]);
  });
});
