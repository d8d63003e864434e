// The controller acts only on its own pre-pull pods, and warm records are believed
// only for what a cache asked for: forged look-alike pods and forged statuses
// steer nothing.
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { ImageIndex } from '../../src/cluster/image-index.js';
import type { ImageCache } from '../../src/warm/imagecache.js';
import { buildPrePullPod } from '../../src/warm/prepull-pod.js';
import { judgePrePullPod, type ManagedCache } from '../../src/warm/trust.js';
import { WarmRecords } from '../../src/warm/warm-records.js';
import { makeNode } from '../support/objects.js';

const IMAGE = 'registry.example/team/app:1';
const OTHER = 'registry.example/victim/db:1';
const CACHE: ManagedCache = {
  ref: { namespace: 'apps', name: 'tools', uid: 'uid-tools' },
  images: new Set([IMAGE]),
  nodes: new Set(['n1', 'n2']),
};
const caches = new Map([[CACHE.ref.uid, CACHE]]);

function ours(overrides: { image?: string; node?: string; namespace?: string; installation?: string } = {}): V1Pod {
  const namespace = overrides.namespace ?? 'apps';
  return buildPrePullPod(
    { imageKey: overrides.image ?? IMAGE, image: overrides.image ?? IMAGE, node: overrides.node ?? 'n1', namespace, pullSecrets: [], source: 'x' },
    { helperImage: 'helper:1', deadlineSeconds: 60, installation: overrides.installation ?? 'prod', owner: { ...CACHE.ref, namespace } },
  );
}

describe('warm/trust', () => {
  describe('judgePrePullPod', () => {
    it('accepts its own pod: its installation, owned by a managed cache, image in spec, node targetable', () => {
      const v = judgePrePullPod(ours(), 'prod', caches);
      expect(v).to.deep.include({ ours: true, recordable: true });
      if (v.ours) expect(v.pair).to.deep.equal({ imageKey: IMAGE, node: 'n1' });
    });

    const foreign: Array<[string, () => V1Pod, RegExp]> = [
      ['another installation’s pod', () => ours({ installation: 'staging' }), /installation "staging"/],
      ['a pod with only the pre-pull label', () => ({ metadata: { namespace: 'apps', labels: { 'image-locality.dev/pre-pull': 'true', 'image-locality.dev/installation': 'prod' } }, spec: { containers: [] } }), /no ImageCache owner/],
      ['a pod in another namespace claiming a cache it cannot own', () => ours({ namespace: 'tenant' }), /not a cache this controller manages/],
      [
        'a pod owned by a cache this controller does not know',
        () => {
          const p = ours();
          p.metadata!.ownerReferences![0]!.uid = 'uid-unknown';
          return p;
        },
        /not a cache this controller manages/,
      ],
      ['a pod without the pre-pull label', () => ({ metadata: { namespace: 'apps' }, spec: { containers: [] } }), /not labelled/],
    ];
    for (const [what, pod, reason] of foreign) {
      it(`leaves alone ${what}`, () => {
        const v = judgePrePullPod(pod(), 'prod', caches);
        expect(v.ours).to.equal(false);
        expect(v.reason).to.match(reason);
      });
    }

    it('never records an image the cache did not ask for, or a node it may not target', () => {
      expect(judgePrePullPod(ours({ image: OTHER }), 'prod', caches)).to.deep.include({ ours: true, recordable: false });
      expect(judgePrePullPod(ours({ node: 'n9' }), 'prod', caches)).to.deep.include({ ours: true, recordable: false });
    });

    it('judges the image the kubelet pulls, not the annotation', () => {
      const pod = ours({ image: OTHER });
      pod.metadata!.annotations!['image-locality.dev/image-key'] = IMAGE;
      expect(judgePrePullPod(pod, 'prod', caches)).to.deep.include({ recordable: false });
    });
  });

  describe('WarmRecords', () => {
    function cache(status: Array<{ image: string; nodes: string[] }>, spec: Record<string, unknown> = { images: [IMAGE], nodeSelector: { pool: 'a' } }): ImageCache {
      return {
        apiVersion: 'image-locality.dev/v1alpha1',
        kind: 'ImageCache',
        metadata: { name: 'c', namespace: 'apps', uid: 'uid-c' },
        spec,
        status: { images: status.map((s) => ({ image: s.image, nodes: s.nodes.map((node) => ({ node, state: 'cached' })) })) },
      } as unknown as ImageCache;
    }
    function setup() {
      const index = new ImageIndex();
      index.upsertNode(makeNode({ name: 'n1', labels: { pool: 'a' } }));
      index.upsertNode(makeNode({ name: 'gpu', labels: { pool: 'gpu' } }));
      return { index, records: new WarmRecords(index, { settings: () => ({ lifetimeMs: 86_400_000, statusImageCap: 50, statusLagMs: 60_000 }) }) };
    }

    it('records an image of the spec on a node the cache selects', () => {
      const { index, records } = setup();
      records.apply(cache([{ image: IMAGE, nodes: ['n1'] }]));
      expect([...(index.holdersOf(IMAGE)?.keys() ?? [])]).to.deep.equal(['n1']);
    });

    it('ignores status entries for images outside the spec and nodes the cache does not select', () => {
      const { index, records } = setup();
      records.apply(cache([
        { image: OTHER, nodes: ['n1'] },
        { image: IMAGE, nodes: ['gpu'] },
      ]));
      expect(index.holdersOf(OTHER)?.size ?? 0).to.equal(0);
      expect(index.holdersOf(IMAGE)?.has('gpu') ?? false).to.equal(false);
    });
  });
});
