// The ImageCache CRD (webhook-config/imagecache-crd.yaml) on a real kube-apiserver:
// it is accepted (structural schema, CEL rules), becomes Established, serves the
// example object, keeps status apart from spec (status subresource), shows its
// printer columns, and rejects invalid objects. Each invalid object is also run
// through parseImageCacheSpec, so the schema and the TypeScript validation agree.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { repoRoot, startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { createNamespace, eventually } from './support/cluster-objects.js';
import { loadImageCacheCrd } from './support/imagecache-crd.js';
import {
  IMAGECACHE_API_VERSION,
  IMAGECACHE_CRD_NAME,
  IMAGECACHE_GROUP,
  IMAGECACHE_KIND,
  IMAGECACHE_PLURAL,
  IMAGECACHE_SHORT_NAME,
  IMAGECACHE_VERSION,
  REFRESH_ANNOTATION,
  buildImageCacheStatus,
  parseImageCacheSpec,
  refreshRequested,
  statusChanged,
  type ImageCache,
  type ImageCacheStatus,
} from '../../src/warm/imagecache.js';

const root = repoRoot();
const examplePath = path.join(root, 'webhook-config', 'examples', 'imagecache.yaml');

interface Table {
  kind: string;
  columnDefinitions: { name: string; type: string; priority?: number }[];
  rows: { cells: unknown[] }[];
}

function apiError(err: unknown): { code: number | undefined; message: string } {
  const e = err as { code?: number; body?: unknown; message?: string };
  let message = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? e.message ?? String(err));
  try {
    message = (JSON.parse(message) as { message?: string }).message ?? message;
  } catch {
    // not JSON
  }
  return { code: e.code, message };
}

describe('e2e ImageCache CRD on a real API server', function () {
  this.timeout(120_000);

  let cp: ControlPlane | undefined;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let example: ImageCache;
  const ns = 'ml-serving';
  const ref = { group: IMAGECACHE_GROUP, version: IMAGECACHE_VERSION, plural: IMAGECACHE_PLURAL };

  before(async function () {
    this.timeout(60 * 60_000); // the first run may build the binaries
    cp = await startControlPlane();
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    custom = kc.makeApiClient(CustomObjectsApi);
    example = parseYaml(fs.readFileSync(examplePath, 'utf8')) as ImageCache;
    await createNamespace(kc, ns, false);
  });

  after(async function () {
    await cp?.stop();
  });

  it('is accepted by the API server and becomes Established', async function () {
    // loadYaml, not a plain YAML parse: the typed client serializes through the
    // model's attribute map, and a plain object's `x-kubernetes-validations` /
    // `x-kubernetes-list-type` keys (model names x_kubernetes_*) would be DROPPED
    // silently everywhere except inside untyped `items`.
    const crd = loadImageCacheCrd();
    expect(crd.metadata?.name).to.equal(IMAGECACHE_CRD_NAME);
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const t0 = performance.now();
    await ext.createCustomResourceDefinition({ body: crd });
    const established = await eventually(
      'CRD Established',
      async () => {
        const got = await ext.readCustomResourceDefinition({ name: IMAGECACHE_CRD_NAME });
        const conds = got.status?.conditions ?? [];
        const nonStructural = conds.find((c) => c.type === 'NonStructuralSchema' && c.status === 'True');
        if (nonStructural) throw new Error(`non-structural schema: ${nonStructural.message}`);
        return conds.some((c) => c.type === 'Established' && c.status === 'True') ? got : undefined;
      },
      30_000,
    );
    console.log(`      Established after ${(performance.now() - t0).toFixed(0)} ms`);
    // The CEL rules and list types reached the server (see loadYaml above).
    const schema = established.spec.versions[0]!.schema!.openAPIV3Schema!;
    const spec = schema.properties!['spec']!.properties!;
    expect(spec['refreshInterval']!.x_kubernetes_validations).to.have.length(1);
    expect(spec['nodeSelector']!.x_kubernetes_validations).to.have.length(1);
    const status = schema.properties!['status']!.properties!;
    expect(status['conditions']!.x_kubernetes_list_type).to.equal('map');
    expect(status['images']!.x_kubernetes_list_map_keys).to.deep.equal(['image']);
    expect(established.status?.acceptedNames?.shortNames).to.deep.equal([IMAGECACHE_SHORT_NAME]);
    // Discovery: what kubectl uses for `kubectl get ic`.
    const resources = await eventually('discovery', async () => {
      const list = await custom.getAPIResources({ group: IMAGECACHE_GROUP, version: IMAGECACHE_VERSION });
      return list.resources.find((r) => r.name === IMAGECACHE_PLURAL) ? list : undefined;
    });
    const main = resources.resources.find((r) => r.name === IMAGECACHE_PLURAL)!;
    expect(main).to.include({ kind: IMAGECACHE_KIND, namespaced: true, singularName: 'imagecache' });
    expect(main.shortNames).to.deep.equal(['ic']);
    expect(resources.resources.map((r) => r.name)).to.include(`${IMAGECACHE_PLURAL}/status`);
  });

  it('stores the example and reads it back unchanged; its spec parses', async function () {
    expect(example.apiVersion).to.equal(IMAGECACHE_API_VERSION);
    // Right after Established the REST endpoint can lag by a moment.
    const t0 = performance.now();
    let attempts = 0;
    const created = (await eventually('create example', () => {
      attempts++;
      return custom.createNamespacedCustomObject({ ...ref, namespace: ns, body: example });
    })) as ImageCache;
    console.log(`      created after ${attempts} attempt(s), ${(performance.now() - t0).toFixed(0)} ms`);
    expect(created.metadata.generation).to.equal(1);
    const got = (await custom.getNamespacedCustomObject({ ...ref, namespace: ns, name: example.metadata.name! })) as ImageCache;
    expect(got.spec).to.deep.equal(example.spec);
    expect(got.status).to.equal(undefined);
    const parsed = parseImageCacheSpec(got.spec);
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    expect(parsed.spec.images.map((i) => i.image)).to.deep.equal([
      'nvcr.io/nvidia/tritonserver@sha256:3c2d4f1b8e9a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d',
      'ghcr.io/example/model-server:stable',
      'docker.io/library/python:3.12-slim',
    ]);
    expect(parsed.spec.refreshIntervalMs).to.equal(6 * 3_600_000);
  });

  it('writes status only through the status subresource, and stores it exactly as built', async function () {
    const name = example.metadata.name!;
    const obj = (await custom.getNamespacedCustomObject({ ...ref, namespace: ns, name })) as ImageCache;
    const parsed = parseImageCacheSpec(obj.spec);
    if (!parsed.ok) throw new Error('example must parse');
    const images = parsed.spec.images;
    const status = buildImageCacheStatus({
      generation: obj.metadata.generation,
      images,
      wantedNodes: ['gpu-1', 'gpu-2'],
      observations: [
        ...images.map((i) => ({ image: i.image, node: 'gpu-1', state: 'cached' as const, lastPulledTime: new Date('2025-06-01T10:00:00.250Z') })),
        { image: images[0]!.image, node: 'gpu-2', state: 'pulling' },
        { image: images[1]!.image, node: 'gpu-2', state: 'failed', reason: 'ErrImagePull: unauthorized' },
      ],
      now: new Date('2025-06-01T10:00:05Z'),
    });

    const replaced = (await custom.replaceNamespacedCustomObjectStatus({
      ...ref,
      namespace: ns,
      name,
      body: { ...obj, status },
    })) as ImageCache;
    expect(statusChanged(replaced.status, status), 'API server stored the status unchanged').to.equal(false);
    expect(replaced.metadata.generation, 'status writes do not bump generation').to.equal(1);

    // A rebuild from the same inputs and the stored status is a no-op write.
    const again = buildImageCacheStatus({
      generation: 1,
      images,
      wantedNodes: ['gpu-2', 'gpu-1'],
      observations: [
        ...images.map((i) => ({ image: i.image, node: 'gpu-1', state: 'cached' as const })),
        { image: images[0]!.image, node: 'gpu-2', state: 'pulling' },
        { image: images[1]!.image, node: 'gpu-2', state: 'failed', reason: 'ErrImagePull: unauthorized' },
      ],
      previous: replaced.status,
      now: new Date('2025-06-01T11:00:00Z'),
    });
    expect(statusChanged(replaced.status, again)).to.equal(false);

    // Merge patch on the status subresource.
    const patched = (await custom.patchNamespacedCustomObjectStatus(
      { ...ref, namespace: ns, name, body: { status: { observedRefresh: 'r1' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as ImageCache;
    expect(patched.status?.observedRefresh).to.equal('r1');
    expect(patched.status?.nodes).to.equal('1/2');

    // Status sent to the main resource is ignored; spec sent to /status is ignored.
    const main = (await custom.replaceNamespacedCustomObject({
      ...ref,
      namespace: ns,
      name,
      body: {
        ...patched,
        metadata: { ...patched.metadata, annotations: { [REFRESH_ANNOTATION]: 'r2' } },
        spec: { ...patched.spec, refreshInterval: '12h' },
        status: { nodes: '9/9' } satisfies ImageCacheStatus,
      },
    })) as ImageCache;
    expect(main.status?.nodes).to.equal('1/2');
    expect(main.metadata.generation, 'spec change bumps generation').to.equal(2);
    expect(refreshRequested(main), 'new refresh annotation value is pending').to.equal(true);
    const viaStatus = (await custom.replaceNamespacedCustomObjectStatus({
      ...ref,
      namespace: ns,
      name,
      body: { ...main, spec: { ...main.spec, images: ['busybox'] }, status: { ...main.status, observedRefresh: 'r2', observedGeneration: 2 } },
    })) as ImageCache;
    expect(viaStatus.spec.images).to.have.length(3);
    expect(refreshRequested(viaStatus)).to.equal(false);
  });

  it('shows the printer columns (kubectl get ic)', async function () {
    const table = (await custom.listNamespacedCustomObject(
      { ...ref, namespace: ns },
      setHeaderOptions('Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io'),
    )) as Table;
    expect(table.kind).to.equal('Table');
    const names = table.columnDefinitions.map((c) => c.name);
    expect(names).to.include.members(['Name', 'Images', 'Nodes', 'Ready', 'Age']);
    const col = (n: string) => names.indexOf(n);
    const row = table.rows[0]!.cells;
    console.log(`      ${names.join('  ')}\n      ${row.join('  ')}`);
    expect(row[col('Name')]).to.equal(example.metadata.name);
    expect(row[col('Images')]).to.equal(3);
    expect(row[col('Nodes')]).to.equal('1/2');
    expect(row[col('Ready')]).to.equal('False');
    expect(row[col('Reason')]).to.equal('PullFailed');
    expect(row[col('Refresh')]).to.equal('12h');
    expect(table.columnDefinitions.find((c) => c.name === 'Reason')?.priority).to.equal(1);
  });

  describe('rejects invalid objects', function () {
    let n = 0;
    const cases: { what: string; spec: Record<string, unknown>; field: RegExp; tsToo?: boolean }[] = [
      { what: 'no images field', spec: { nodeSelector: {} }, field: /spec\.images: Required/ },
      { what: 'an empty images list', spec: { images: [] }, field: /spec\.images: Invalid value.*(at least 1|should have at least 1)/ },
      { what: 'an empty image', spec: { images: ['nginx', ''] }, field: /spec\.images\[1\]/ },
      { what: 'an image with whitespace', spec: { images: [' nginx'] }, field: /spec\.images\[0\].*whitespace/ },
      { what: 'too many images', spec: { images: Array.from({ length: 257 }, (_, i) => `img${i}`) }, field: /spec\.images: Too many/ },
      { what: 'refreshInterval that is not a duration', spec: { images: ['nginx'], refreshInterval: '6 hours' }, field: /spec\.refreshInterval.*should match/ },
      { what: 'refreshInterval below 1m', spec: { images: ['nginx'], refreshInterval: '30s' }, field: /spec\.refreshInterval.*between 1m and 8760h/ },
      { what: 'refreshInterval above 8760h', spec: { images: ['nginx'], refreshInterval: '9000h' }, field: /between 1m and 8760h/ },
      { what: 'a toleration with operator Exists and a value', spec: { images: ['nginx'], tolerations: [{ key: 'k', operator: 'Exists', value: 'v' }] }, field: /value must be empty/ },
      { what: 'a toleration with an unknown operator', spec: { images: ['nginx'], tolerations: [{ key: 'k', operator: 'In' }] }, field: /spec\.tolerations\[0\]\.operator: Unsupported value/ },
      { what: 'tolerationSeconds without NoExecute', spec: { images: ['nginx'], tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }] }, field: /only allowed with effect NoExecute/ },
      { what: 'an invalid nodeSelector key', spec: { images: ['nginx'], nodeSelector: { 'bad key!': 'x' } }, field: /valid label keys/ },
      { what: 'an invalid nodeSelector value', spec: { images: ['nginx'], nodeSelector: { zone: 'a b' } }, field: /spec\.nodeSelector\.zone/ },
      { what: 'an imagePullSecret without a name', spec: { images: ['nginx'], imagePullSecrets: [{}] }, field: /spec\.imagePullSecrets\[0\]\.name: Required/ },
    ];
    for (const c of cases) {
      it(c.what, async function () {
        const body = { apiVersion: IMAGECACHE_API_VERSION, kind: IMAGECACHE_KIND, metadata: { name: `invalid-${++n}` }, spec: c.spec };
        const err = await custom.createNamespacedCustomObject({ ...ref, namespace: ns, body }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, 'the API server must reject it').to.not.equal(undefined);
        const { code, message } = apiError(err);
        expect(code).to.equal(422);
        expect(message).to.match(c.field);
        if (process.env['IC_VERBOSE']) console.log(`        ${message}`);
        const parsed = parseImageCacheSpec(c.spec);
        expect(parsed.ok, 'parseImageCacheSpec must reject it too').to.equal(false);
      });
    }

    it('a status with an unknown node state (status subresource)', async function () {
      const name = example.metadata.name!;
      const err = await custom
        .patchNamespacedCustomObjectStatus(
          { ...ref, namespace: ns, name, body: { status: { images: [{ image: 'x', cachedNodes: 0, wantedNodes: 1, nodes: [{ node: 'n', state: 'done', lastTransitionTime: '2025-01-01T00:00:00Z' }] }] } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      const { code, message } = apiError(err);
      expect(code).to.equal(422);
      expect(message).to.match(/status\.images\[0\]\.nodes\[0\]\.state: Unsupported value: "done"/);
    });

    it('accepts what only the webhook grammar rejects (upper-case repository), which parseImageCacheSpec catches', async function () {
      const spec = { images: ['Docker.io/Library/Nginx:latest'] };
      await custom.createNamespacedCustomObject({
        ...ref,
        namespace: ns,
        body: { apiVersion: IMAGECACHE_API_VERSION, kind: IMAGECACHE_KIND, metadata: { name: 'bad-reference' }, spec },
      });
      const parsed = parseImageCacheSpec(spec);
      expect(parsed.ok).to.equal(false);
      if (!parsed.ok) expect(parsed.errors[0]).to.match(/^spec\.images\[0\]: "Docker\.io\/Library\/Nginx:latest" is not a valid image reference/);
    });
  });
});
