import { expect } from 'chai';
import { ImageIndex } from '../../src/cluster/image-index.js';
import { DIGEST_A, containerdImage, makeNode } from '../support/objects.js';

const NGINX = 'docker.io/library/nginx:1.25';
const NGINX_DIGEST = `docker.io/library/nginx@${DIGEST_A}`;

function holders(index: ImageIndex, key: string): string[] {
  return [...(index.holdersOf(key)?.keys() ?? [])].sort();
}

function holderNamesFromArray(index: ImageIndex, key: string): string[] {
  const array = index.holderArray(key);
  return array ? [...array.ids].map((id) => index.nodeById(id)?.name ?? '?').sort() : [];
}

describe('ImageIndex', () => {
  it('indexes both the tag and the digest names a runtime reports', () => {
    const index = new ImageIndex();
    index.upsertNode(makeNode({ name: 'a', images: [containerdImage(NGINX, 70, DIGEST_A)] }));
    expect(holders(index, NGINX)).to.deep.equal(['a']);
    expect(holders(index, NGINX_DIGEST)).to.deep.equal(['a']);
    expect(index.holdersOf(NGINX)?.get('a')).to.equal(70);
  });

  it('ignores <none> names and unparseable entries without failing', () => {
    const index = new ImageIndex();
    const node = makeNode({ name: 'a' });
    (node.status as { images: unknown }).images = [
      { names: ['<none>@<none>', '<none>:<none>'], sizeBytes: 5 },
      { names: ['NOT VALID'], sizeBytes: 5 },
      { names: null },
      null,
      { names: [NGINX], sizeBytes: 'big' },
    ];
    index.upsertNode(node);
    expect(index.imageCount).to.equal(1);
    expect(holders(index, NGINX)).to.deep.equal(['a']);
  });

  it('applies updates incrementally: images that left a node leave the index', () => {
    const index = new ImageIndex();
    index.upsertNode(makeNode({ name: 'a', images: [containerdImage(NGINX, 70), containerdImage('docker.io/library/redis:7', 30)] }));
    index.upsertNode(makeNode({ name: 'b', images: [containerdImage(NGINX, 70)] }));
    expect(holderNamesFromArray(index, NGINX)).to.deep.equal(['a', 'b']);
    index.upsertNode(makeNode({ name: 'a', images: [containerdImage('docker.io/library/redis:7', 30)] }));
    expect(holders(index, NGINX)).to.deep.equal(['b']);
    expect(holderNamesFromArray(index, NGINX)).to.deep.equal(['b']);
    index.removeNode('b');
    expect(index.holdersOf(NGINX)).to.equal(undefined);
    expect(index.holderArray(NGINX)).to.equal(undefined);
    expect(index.nodeCount).to.equal(1);
  });

  it('replaceAll drops nodes that are gone', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'a', images: [containerdImage(NGINX, 1)] }), makeNode({ name: 'b' })]);
    index.replaceAll([makeNode({ name: 'b' })]);
    expect(index.nodeCount).to.equal(1);
    expect(index.imageCount).to.equal(0);
  });

  it('tracks schedulability: cordoned and NotReady nodes are not schedulable', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'ok' }), makeNode({ name: 'cordoned', unschedulable: true }), makeNode({ name: 'down', ready: false })]);
    expect(index.node('ok')?.schedulable).to.equal(true);
    expect(index.node('cordoned')?.schedulable).to.equal(false);
    expect(index.node('down')?.schedulable).to.equal(false);
  });

  it('keeps its own copy of the fields decisions read, not the node object', () => {
    const index = new ImageIndex();
    const node = makeNode({ name: 'a', labels: { pool: 'gpu' }, taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule', timeAdded: new Date(0) }] });
    (node.metadata as Record<string, unknown>)['managedFields'] = [{ manager: 'kubelet', fieldsV1: { 'f:status': {} } }];
    (node.status as Record<string, unknown>)['allocatable'] = { cpu: '8', memory: '32Gi', pods: '110', 'hugepages-2Mi': '0', 'example.com/fpga': '2' };
    index.upsertNode(node);
    // Later changes to the object (or its reuse by a client library) do not leak into the index.
    (node.metadata?.labels as Record<string, string>)['pool'] = 'cpu';
    (node.spec?.taints as unknown[]).length = 0;
    const indexed = index.node('a');
    expect(indexed?.labels['pool']).to.equal('gpu');
    expect(indexed?.taints).to.deep.equal([{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }]);
    expect(indexed?.allocatable).to.deep.equal({ cpu: '8', memory: '32Gi', pods: '110' });
    expect(Object.keys(indexed ?? {}).sort()).to.deep.equal(['allocatable', 'id', 'imageList', 'images', 'labels', 'name', 'reported', 'schedulable', 'taints', 'warmed']);
  });

  it('ignores malformed labels, taints and conditions instead of failing', () => {
    const index = new ImageIndex();
    const node = makeNode({ name: 'a' }) as unknown as Record<string, Record<string, unknown>>;
    (node['metadata'] as Record<string, unknown>)['labels'] = { ok: 'yes', bad: 5 };
    node['spec'] = { taints: [null, { key: 'k' }, { key: 'k', effect: 'NoSchedule', value: 3 }] };
    (node['status'] as Record<string, unknown>)['conditions'] = 'Ready';
    index.upsertNode(node as never);
    expect(index.node('a')?.labels).to.deep.equal({ ok: 'yes' });
    expect(index.node('a')?.taints).to.deep.equal([{ key: 'k', effect: 'NoSchedule' }]);
    expect(index.node('a')?.schedulable).to.equal(false);
  });

  it('orders node ids by name and keeps the order right after nodes come and go', () => {
    const index = new ImageIndex();
    for (const name of ['c', 'a', 'b']) index.upsertNode(makeNode({ name }));
    const names = () => [...index.idsByName()].map((id) => index.nodeById(id)?.name);
    expect(names()).to.deep.equal(['a', 'b', 'c']);
    index.removeNode('a');
    index.upsertNode(makeNode({ name: 'aa' }));
    expect(names()).to.deep.equal(['aa', 'b', 'c']);
    const ranks = index.nameRanks();
    expect(ranks[index.node('b')?.id as number]).to.equal(1);
  });

  it('gives a warm record the size other nodes report for the image, or 1 byte when none does', () => {
    const index = new ImageIndex();
    index.replaceAll([makeNode({ name: 'a', images: [containerdImage(NGINX, 70)] }), makeNode({ name: 'b' })]);
    index.recordWarmed('b', NGINX);
    index.recordWarmed('b', 'docker.io/library/unknown:1');
    expect(index.holdersOf(NGINX)?.get('b')).to.equal(70);
    expect(index.holdersOf('docker.io/library/unknown:1')?.get('b')).to.equal(1);
  });

  it('keeps warm records for images the node status does not list, until the kubelet reports them', () => {
    const index = new ImageIndex();
    index.upsertNode(makeNode({ name: 'a' }));
    index.recordWarmed('a', 'docker.io/library/tiny:1', 1000);
    expect(holders(index, 'docker.io/library/tiny:1')).to.deep.equal(['a']);
    // A status update that still omits the image (beyond the 50-image cap) keeps the record.
    index.upsertNode(makeNode({ name: 'a', images: [containerdImage(NGINX, 5)] }));
    expect(holders(index, 'docker.io/library/tiny:1')).to.deep.equal(['a']);
    index.forgetWarmed('a', 'docker.io/library/tiny:1');
    expect(index.holdersOf('docker.io/library/tiny:1')).to.equal(undefined);
    index.recordWarmed('a', 'docker.io/library/tiny:1', 1000);
    index.removeNode('a');
    index.upsertNode(makeNode({ name: 'a' }));
    expect(index.holdersOf('docker.io/library/tiny:1')).to.equal(undefined);
  });
});
