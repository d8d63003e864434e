import { expect } from 'chai';
import { ResilientInformer } from '../../src/cluster/informers.js';
import { Interner } from '../../src/cluster/interner.js';
import type { ListWatchTransport } from '../../src/cluster/list-watch.js';
import { statusChanged, type ImageCache } from '../../src/warm/imagecache.js';
import { cacheIdentity, keptCache } from '../../src/warm/kept-cache.js';

function cache(name: string, nodes: string[]): ImageCache {
  return {
    apiVersion: 'image-locality.dev/v1alpha1',
    kind: 'ImageCache',
    metadata: {
      name,
      namespace: 'team-a',
      uid: `uid-${name}`,
      labels: { team: 'a' },
      managedFields: [{ manager: 'image-locality', operation: 'Update', fieldsV1: { 'f:status': {} } }],
    },
    spec: { images: ['nginx:1.25'] },
    status: {
      nodes: `${nodes.length}/${nodes.length}`,
      images: [
        {
          image: 'docker.io/library/nginx:1.25',
          cachedNodes: nodes.length,
          wantedNodes: nodes.length,
          nodes: nodes.map((node) => ({ node, state: 'cached', lastTransitionTime: '2026-01-01T00:00:00Z' })),
        },
      ],
    },
  };
}

describe('what a process keeps of an ImageCache', () => {
  it('keeps everything but managedFields, with a status equal to the original, and leaves the original alone', () => {
    const original = cache('c1', ['node-a', 'node-b']);
    const before = JSON.stringify(original);
    const kept = keptCache(original, new Interner());
    expect(JSON.stringify(original)).to.equal(before);
    expect(kept.metadata).to.deep.equal({ name: 'c1', namespace: 'team-a', uid: 'uid-c1', labels: { team: 'a' } });
    expect(kept.spec).to.deep.equal(original.spec);
    expect(kept.status).to.deep.equal(original.status);
    // The controller compares statuses to decide whether to write: a kept cache must not look changed.
    expect(statusChanged(kept.status, original.status)).to.equal(false);
  });

  it('holds each repeated status string once across caches', () => {
    const interner = new Interner();
    keptCache(cache('c1', ['node-a', 'node-b']), interner);
    keptCache(cache('c2', ['node-b', 'node-c']), interner);
    // node-a, node-b, node-c, 'cached', the timestamp and the image name.
    expect(interner.size).to.equal(6);
  });

  it('takes malformed caches as they are instead of failing', () => {
    const interner = new Interner();
    const odd = [
      { metadata: null, status: { images: 'not a list' } },
      { metadata: { name: 'x' }, status: { images: [null, 7, { nodes: 'no' }, { nodes: [null, 'text', { node: 1 }] }] } },
      null,
    ] as unknown as ImageCache[];
    for (const c of odd) {
      expect(() => keptCache(c, interner)).not.to.throw();
      expect(() => cacheIdentity(c)).not.to.throw();
    }
    expect(keptCache(odd[1] as ImageCache, interner).status).to.deep.equal((odd[1] as ImageCache).status);
  });

  it('keeps only the identity where the caches themselves are not needed', () => {
    expect(cacheIdentity(cache('c1', ['node-a']))).to.deep.equal({
      apiVersion: 'image-locality.dev/v1alpha1',
      kind: 'ImageCache',
      metadata: { name: 'c1', namespace: 'team-a', uid: 'uid-c1' },
    });
  });

  it('an informer gives its handlers the whole object, stores what keep returns, and removes with what it kept', async () => {
    const full = cache('c1', ['node-a']);
    let lists = 0;
    const transport: ListWatchTransport = {
      async listPage(_path, _query, _signal, onItem) {
        // The first list has the cache; the relist after 410 no longer does.
        if (lists++ === 0) onItem(full);
        return { resourceVersion: String(lists), continue: '' };
      },
      async watch(_path, _query, onEvent, onDone) {
        if (lists === 1) setTimeout(() => onEvent('ERROR', { code: 410, reason: 'Expired' }), 10);
        return { abort: () => onDone(null) };
      },
    };
    const upserted: ImageCache[] = [];
    const removed: ImageCache[] = [];
    const informer = new ResilientInformer<ImageCache>(
      transport,
      {
        what: 'imagecaches',
        path: '/x',
        handlers: { upsert: (c) => upserted.push(c), remove: (c) => removed.push(c) },
        keep: cacheIdentity,
      },
      { observer: {} },
    );
    await informer.start();
    expect(upserted).to.deep.equal([full]);
    expect(informer.list()).to.deep.equal([cacheIdentity(full)]);
    for (let i = 0; i < 100 && removed.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await informer.stop();
    expect(removed).to.deep.equal([cacheIdentity(full)]);
    expect(informer.list()).to.deep.equal([]);
  });
});
