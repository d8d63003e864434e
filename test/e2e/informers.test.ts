// The cluster view's list-watch on the real kube-apiserver: lists in pages, follows
// the watch, and relists in place when the server no longer has the version the
// watch resumes from (410 Gone after an apiserver restart).
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterState } from '../../src/cluster/cluster-state.js';
import { ClusterWatcher } from '../../src/cluster/informers.js';
import type { ListReason } from '../../src/cluster/list-watch.js';
import { startControlPlane, type ControlPlane } from './control-plane/control-plane.js';
import { createNode, deleteNode, eventually } from './support/cluster-objects.js';

const NODES = 23;
const PAGE = 5;
const nodeName = (i: number): string => `node-${String(i).padStart(2, '0')}`;

/** A write straight to etcd (the apiserver is down): `op` is put or deleterange. */
async function etcd(cp: ControlPlane, op: 'put' | 'deleterange', key: string): Promise<void> {
  const body: Record<string, string> = { key: Buffer.from(key).toString('base64') };
  if (op === 'put') body['value'] = Buffer.from('x').toString('base64');
  const reply = await fetch(`${cp.etcdEndpoint}/v3/kv/${op}`, { method: 'POST', body: JSON.stringify(body) });
  expect(reply.status, `etcd ${op} ${key}`).to.equal(200);
}

describe('cluster view list-watch on the real apiserver', function () {
  this.timeout(240_000);
  let cp: ControlPlane | undefined;
  let kc: KubeConfig;
  let state: ClusterState;
  let watcher: ClusterWatcher | undefined;
  const lists: Array<{ what: string; reason: ListReason; items: number; pages: number }> = [];

  before(async function () {
    this.timeout(60 * 60_000); // a first run may build the binaries
    cp = await startControlPlane({ scheduler: false });
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    for (let i = 0; i < NODES; i++) await createNode(kc, { name: nodeName(i), images: [{ names: [`docker.io/library/app-${i}:1`], sizeBytes: 1000 + i }] });
    state = new ClusterState('image-locality');
    watcher = new ClusterWatcher(kc, state, {
      pageSize: PAGE,
      initialBackoffMs: 200,
      maxBackoffMs: 2000,
      observer: { listed: (what, reason, items, pages) => lists.push({ what, reason, items, pages }) },
    });
    await watcher.start();
  });

  after(async () => {
    await watcher?.stop();
    await cp?.stop();
  });

  it('lists the nodes in pages and indexes every one before it says it is ready', () => {
    expect(watcher?.ready()).to.equal(true);
    const nodes = lists.filter((l) => l.what === 'nodes');
    expect(nodes).to.deep.equal([{ what: 'nodes', reason: 'initial', items: NODES, pages: Math.ceil(NODES / PAGE) }]);
    expect(state.index.nodeCount).to.equal(NODES);
    expect([...(state.index.holdersOf('docker.io/library/app-7:1')?.entries() ?? [])]).to.deep.equal([[nodeName(7), 1007]]);
  });

  it('follows additions and deletions through the watch', async () => {
    await createNode(kc, { name: 'node-late', images: [{ names: ['docker.io/library/late:1'], sizeBytes: 5 }] });
    await deleteNode(kc, nodeName(3));
    await eventually('the watch to deliver both changes', async () =>
      state.index.node('node-late') && !state.index.node(nodeName(3)) ? true : undefined,
    );
    expect(state.index.nodeCount).to.equal(NODES);
    expect(lists.filter((l) => l.what === 'nodes')).to.have.length(1);
  });

  it('relists in place after a restarted apiserver answers 410, dropping a node deleted while it was down', async () => {
    let notReady = 0;
    const sampler = setInterval(() => {
      if (!watcher?.ready()) notReady++;
    }, 50);
    try {
      await (cp as ControlPlane).restartApiserver(async () => {
        // Nothing can go through the API now; change storage itself, as another
        // apiserver of an HA pair would while this one is away. This also moves the
        // revision past every version the watch saw.
        await etcd(cp as ControlPlane, 'deleterange', `/registry/minions/${nodeName(5)}`);
      });
      await eventually(
        'a relist of the nodes',
        async () => (lists.some((l) => l.what === 'nodes' && l.reason === 'expired') ? true : undefined),
        120_000,
        200,
      );
    } finally {
      clearInterval(sampler);
    }
    const relist = lists.find((l) => l.what === 'nodes' && l.reason === 'expired');
    expect(relist).to.deep.include({ items: NODES - 1, pages: Math.ceil((NODES - 1) / PAGE) });
    expect(state.index.node(nodeName(5))).to.equal(undefined);
    expect(state.index.holdersOf('docker.io/library/app-5:1')).to.equal(undefined);
    expect(state.index.node(nodeName(6))?.schedulable).to.equal(true);
    expect(state.index.nodeCount).to.equal(NODES - 1);
    // The view stayed in service throughout: a restart is far shorter than the staleness limit.
    expect(notReady).to.equal(0);
    expect(watcher?.reason()).to.equal('ok');
    // And the watch works again after the relist.
    await deleteNode(kc, nodeName(6));
    await eventually('the resumed watch to deliver a deletion', async () => (state.index.node(nodeName(6)) ? undefined : true), 30_000);
  });
});
