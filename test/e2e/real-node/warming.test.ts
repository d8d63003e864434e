// End to end on real nodes: kubelets, containerd and registries on this machine
// (lab.ts). Pre-pull pods are run by real kubelets, images are really pulled
// through the bandwidth-limited registry links, and what steers pods is what the
// kubelets themselves report in status.images. Skips with one line on a machine
// without root or the packages; IMAGE_LOCALITY_REQUIRE_REAL_NODES=1 (CI) fails instead.
import { expect } from 'chai';
import { CoreV1Api, CustomObjectsApi, Watch, type V1Pod } from '@kubernetes/client-node';
import { makePod } from '../../support/objects.js';
import { createNamespace, createPod, eventually } from '../support/cluster-objects.js';
import { preferredNodeNames, setPolicy, tail } from '../support/harness.js';
import { applyImageCacheCrd } from '../support/imagecache-crd.js';
import { labProcesses, mountsUnder, readSysctl, saveSysctls, KUBELET_SYSCTLS } from './host-state.js';
import { isReady, startLab, type Lab } from './lab.js';
import { startLabImageLocality, type LabImageLocality } from './lab-webhook.js';
import { routesInside, netnsPath } from './netns.js';
import { requireRealNodes } from './requirements.js';
import fs from 'node:fs';

const GROUP = 'image-locality.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'imagecaches';
const OWN = 'image-locality';
const CACHES = 'warm';
const APPS = 'apps';
/** The kubelet refreshes its image list every 30 s and node status every 10 s. */
const STATUS_IMAGES_MS = 90_000;

interface NodeStatus {
  node: string;
  state: string;
  reason?: string;
}
interface ImageCacheObject {
  status?: { images?: Array<{ image: string; cachedNodes: number; nodes: NodeStatus[] }> };
}

function dockerConfigSecret(name: string, namespace: string, registry: string, username: string, password: string) {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  return {
    metadata: { name, namespace },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [registry]: { username, password, auth } } })).toString('base64') },
  };
}

describe('e2e real nodes: warming and steering on kubelets with containerd', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let il: LabImageLocality | undefined;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let sysctlsBefore: Record<string, string>;
  const L = (): Lab => lab as Lab;

  const getCache = async (name: string): Promise<ImageCacheObject> =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: CACHES, name })) as ImageCacheObject;
  const createCache = (name: string, spec: Record<string, unknown>) =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: CACHES,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ImageCache', metadata: { name, namespace: CACHES }, spec },
    });
  const nodeStates = (c: ImageCacheObject): Record<string, string> =>
    Object.fromEntries((c.status?.images ?? []).flatMap((i) => i.nodes.map((n) => [`${i.image}@${n.node}`, n.state])));
  const listedOn = async (node: string, ref: string): Promise<boolean> =>
    ((await core.readNode({ name: node })).status?.images ?? []).some((i) => i.names?.includes(ref));
  const probe = (name: string, image: string): Promise<V1Pod> => createPod(L().kc, makePod(name, APPS, [image]), true);

  before(async function () {
    requireRealNodes(this);
    this.timeout(900_000);
    sysctlsBefore = saveSysctls();
    lab = await startLab({ nodes: 3, log: (line) => console.log(`      [lab] ${line}`) });
    core = lab.kc.makeApiClient(CoreV1Api);
    custom = lab.kc.makeApiClient(CustomObjectsApi);
    await applyImageCacheCrd(lab.kc);
    await createNamespace(lab.kc, OWN, false);
    await createNamespace(lab.kc, CACHES, false);
    await createNamespace(lab.kc, APPS, true);
    await setPolicy(core, ['warm:', '  minNodes: 1', '  maxConcurrentPullsPerNode: 2', 'affinity:', '  minScore: 0'].join('\n'));
    const { username, password } = lab.privateCredentials;
    const registry = lab.images.private.ref.split('/')[0]!;
    await core.createNamespacedSecret({ namespace: CACHES, body: dockerConfigSecret('lab-pull', CACHES, registry, username, password) });
    await core.createNamespacedSecret({ namespace: CACHES, body: dockerConfigSecret('wrong-pull', CACHES, registry, username, 'not-the-password') });
    il = await startLabImageLocality(lab);
  });

  after(async function () {
    this.timeout(120_000);
    if (il && process.env['E2E_VERBOSE']) console.error(tail(il.output(), 80));
    await il?.kill();
    await lab?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && il) console.error(tail(il.output(), 60));
    if (this.currentTest?.state === 'failed' && lab && fs.existsSync(lab.dir)) console.error(`      lab logs kept in ${lab.keepLogs()}`);
  });

  it('lives in its own network namespace: no route out, nodes Ready on addresses inside it', async () => {
    expect(routesInside(L().netns).trim().split('\n').filter((l) => l.startsWith('default'))).to.deep.equal([]);
    const nodes = (await core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).to.deep.equal(['lab-node-1', 'lab-node-2', 'lab-node-3']);
    for (const n of nodes) {
      expect(isReady(n), `${n.metadata?.name} Ready`).to.equal(true);
      const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
      expect(ip).to.match(/^10\.250\.0\.\d+$/);
    }
  });

  it('an ImageCache pulls shell, shell-less, scratch and private images onto the selected node with the exit binary', async () => {
    const { shell, shellLess, scratch, private: priv } = L().images;
    await createCache('kinds', {
      images: [shell.ref, shellLess.ref, scratch.ref, priv.ref],
      nodeSelector: { 'kubernetes.io/hostname': 'lab-node-2' },
      imagePullSecrets: [{ name: 'lab-pull' }],
    });
    const cache = await eventually(
      'all four images cached on lab-node-2',
      async () => {
        const c = await getCache('kinds');
        const images = c.status?.images ?? [];
        return images.length === 4 && images.every((i) => i.cachedNodes === 1) ? c : undefined;
      },
      150_000,
      1000,
    );
    expect(Object.values(nodeStates(cache))).to.deep.equal(['cached', 'cached', 'cached', 'cached']);
    // The runtime of that node holds them; the other nodes' runtimes do not.
    const held = (node: string) => L().nodes.find((n) => n.name === node)!.containerd.ctr(['images', 'ls', '-q']);
    for (const image of [shell, shellLess, scratch, priv]) {
      expect(held('lab-node-2'), image.ref).to.contain(image.ref);
      expect(held('lab-node-1'), image.ref).to.not.contain(image.ref);
    }
  });

  it('the kubelet then lists the images in status.images, and the webhook steers the next pod there', async () => {
    const { shell, private: priv } = L().images;
    await eventually('lab-node-2 to list the warmed images', async () => ((await listedOn('lab-node-2', shell.ref)) && (await listedOn('lab-node-2', priv.ref)) ? true : undefined), STATUS_IMAGES_MS, 2000);
    const pod = await createPod(L().kc, makePod('steered', APPS, [shell.ref], { spec: { containers: [{ name: 'c0', image: shell.ref, command: ['sleep', '3600'] }] } }));
    expect(preferredNodeNames(pod)).to.deep.equal(['lab-node-2']);
    const running = await eventually(
      'the steered pod Running',
      async () => {
        const p = await core.readNamespacedPod({ name: 'steered', namespace: APPS });
        return p.status?.phase === 'Running' ? p : undefined;
      },
      60_000,
      500,
    );
    expect(running.spec?.nodeName).to.equal('lab-node-2');
  });

  it('unpullable images (missing tag, wrong credentials, registry down) end failed with the kubelet reason, an Event and backoff', async () => {
    const { shell, private: priv } = L().images;
    const missing = shell.ref.replace(/:1$/, ':no-such-tag');
    const down = shell.ref.replace('127.0.0.1:5000', '127.0.0.1:5009');
    const created = new Map<string, number[]>();
    const watch = await new Watch(L().kc).watch(
      `/api/v1/namespaces/${CACHES}/pods`,
      { labelSelector: 'image-locality.dev/pre-pull=true' },
      (type: string, pod: V1Pod) => {
        const image = pod.metadata?.annotations?.['image-locality.dev/image'] ?? '';
        if (type === 'ADDED') created.set(image, [...(created.get(image) ?? []), Date.now()]);
      },
      () => undefined,
    );
    try {
      await createCache('broken', { images: [missing, down], nodeSelector: { 'kubernetes.io/hostname': 'lab-node-3' } });
      await createCache('wrong-secret', { images: [priv.ref], nodeSelector: { 'kubernetes.io/hostname': 'lab-node-3' }, imagePullSecrets: [{ name: 'wrong-pull' }] });
      const failedAt = Date.now();
      const failures = await eventually(
        'all three failures in status',
        async () => {
          const nodes = [...((await getCache('broken')).status?.images ?? []), ...((await getCache('wrong-secret')).status?.images ?? [])].flatMap((i) =>
            i.nodes.map((n) => ({ ...n, image: i.image })),
          );
          return nodes.length === 3 && nodes.every((n) => n.state === 'failed') ? nodes : undefined;
        },
        120_000,
        1000,
      );
      for (const f of failures) expect(['ErrImagePull', 'ImagePullBackOff'], `${f.image}`).to.include(f.reason);
      const events = await eventually(
        'a PullFailed event per image',
        async () => {
          const list = (await core.listNamespacedEvent({ namespace: CACHES })).items.filter((e) => e.reason === 'PullFailed');
          return list.length >= 3 ? list : undefined;
        },
        30_000,
        500,
      );
      const text = (image: string) => events.filter((e) => e.message?.includes(image)).map((e) => e.message ?? '').join('\n');
      // The kubelet's own words for each failure reach the Event.
      expect(text(missing)).to.match(/not found/i);
      expect(text(priv.ref)).to.match(/401|unauthorized/i);
      expect(text(down)).to.match(/connection refused|connect:/i);
      // Backoff: a failing pair's next pod comes 10 s after the failure, the one after
      // that 20 s later, then 40 s. So its pods are never less than ~10 s apart, and in
      // the time since its first pod there are at most as many as the doubling delays
      // allow (other pulls on the node can only delay a retry further).
      await new Promise((r) => setTimeout(r, Math.max(0, 25_000 - (Date.now() - failedAt))));
      for (const image of [missing, down, priv.ref]) {
        const times = created.get(image) ?? [];
        expect(times.length, `pre-pull pods for ${image}`).to.be.at.least(1);
        const gaps = times.slice(1).map((t, i) => t - times[i]!);
        for (const gap of gaps) expect(gap, `${image}: ms between pre-pull pods`).to.be.at.least(9_000);
        const elapsed = Date.now() - times[0]!;
        let allowed = 1;
        while (10_000 * (2 ** allowed - 1) <= elapsed) allowed++;
        expect(times.length, `${image}: pre-pull pods in ${elapsed} ms`).to.be.at.most(allowed);
      }
      const again = (await core.listNamespacedEvent({ namespace: CACHES })).items.filter((e) => e.reason === 'PullFailed');
      expect(again.reduce((sum, e) => sum + (e.count ?? 1), 0), 'one PullFailed report per pair while the reason stays the same').to.equal(3);
    } finally {
      watch.abort();
    }
  });

  it('an image the runtime removes (as image GC does) stops attracting pods within a bounded time, and a cache warms it again', async function () {
    this.timeout(600_000);
    const { shellLess } = L().images;
    // A plain pod pulls it onto node 1; the ImageCache above keeps it on node 2.
    await createNamespace(L().kc, 'plain', false);
    await createPod(L().kc, makePod('puller', 'plain', [shellLess.ref], { spec: { nodeName: 'lab-node-1', terminationGracePeriodSeconds: 0 } }));
    await eventually('lab-node-1 to list the image', async () => ((await listedOn('lab-node-1', shellLess.ref)) ? true : undefined), STATUS_IMAGES_MS, 2000);
    await eventually('pods steered to both holders', async () => {
      const p = await probe(`gc-before-${Date.now()}`, shellLess.ref);
      return preferredNodeNames(p).sort().join(',') === 'lab-node-1,lab-node-2' ? true : undefined;
    }, 20_000, 500);
    await core.deleteNamespacedPod({ name: 'puller', namespace: 'plain', gracePeriodSeconds: 0 });
    await eventually('the puller pod gone', async () => {
      const pods = (await core.listNamespacedPod({ namespace: 'plain' })).items;
      return pods.length === 0 ? true : undefined;
    }, 60_000, 500);
    L().removeImage('lab-node-1', shellLess.ref);
    const removedAt = Date.now();
    await eventually('pods no longer steered to lab-node-1', async () => {
      const p = await probe(`gc-after-${Date.now()}`, shellLess.ref);
      return preferredNodeNames(p).join(',') === 'lab-node-2' ? true : undefined;
    }, STATUS_IMAGES_MS, 1000);
    console.log(`      removed image stopped attracting pods after ${((Date.now() - removedAt) / 1000).toFixed(1)} s`);

    // On the cache's own node the image also counts as a warm record. Once a complete
    // status (far fewer images than the kubelet's cap of 50) leaves it out, that record
    // stops counting as well, and the controller pulls the image there again.
    const runtimeHas = () => L().nodes.find((n) => n.name === 'lab-node-2')!.containerd.ctr(['images', 'ls', '-q']).includes(shellLess.ref);
    let steeredAway = false;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const p = await probe(`gc-cache-${Date.now()}`, shellLess.ref).catch(() => undefined);
        if (p && !preferredNodeNames(p).includes('lab-node-2')) steeredAway = true;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      L().removeImage('lab-node-2', shellLess.ref);
      const cacheNodeRemovedAt = Date.now();
      expect(runtimeHas(), 'removed from the runtime of lab-node-2').to.equal(false);
      await eventually('a NotInNodeStatus Event for lab-node-2', async () => {
        const events = (await core.listNamespacedEvent({ namespace: CACHES })).items.filter((e) => e.reason === 'NotInNodeStatus' && e.message?.includes('lab-node-2'));
        return events.length > 0 ? true : undefined;
      }, STATUS_IMAGES_MS + 30_000, 1000);
      await eventually('the image back in the runtime of lab-node-2 (a real pull)', async () => (runtimeHas() ? true : undefined), 120_000, 1000);
      await eventually('pods steered to lab-node-2 again', async () => {
        const p = await probe(`gc-rewarmed-${Date.now()}`, shellLess.ref);
        return preferredNodeNames(p).join(',') === 'lab-node-2' ? true : undefined;
      }, STATUS_IMAGES_MS, 1000);
      console.log(`      removed from the cache's node: warmed again and steering again after ${((Date.now() - cacheNodeRemovedAt) / 1000).toFixed(1)} s`);
    } finally {
      probing = false;
      await prober;
    }
    expect(steeredAway, 'a pod was admitted without a preference for lab-node-2 between the removal and the new pull').to.equal(true);
  });

  it('teardown puts the machine back: sysctls, namespace, cgroups, mounts, processes', async function () {
    this.timeout(120_000);
    const dir = L().dir;
    await il?.kill();
    il = undefined;
    await L().stop();
    for (const key of KUBELET_SYSCTLS) expect(readSysctl(key), key).to.equal(sysctlsBefore[key]);
    expect(fs.existsSync(netnsPath(L().netns))).to.equal(false);
    expect(fs.existsSync('/sys/fs/cgroup/cpu/image-locality-lab-1')).to.equal(false);
    expect(mountsUnder(dir)).to.deep.equal([]);
    expect(labProcesses(dir)).to.deep.equal([]);
    expect(fs.existsSync(dir)).to.equal(false);
  });
});
