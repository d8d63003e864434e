// Placement at 1,000 nodes on the real kube-scheduler with its default
// configuration: there it scores only a sample of the nodes (420 of 1,000), so
// preferences toward 3 holders are often never looked at. The shortlist mode must
// still put the pods on the holders, and never leave a pod unschedulable that the
// scheduler would have placed: not when the holders are full, nor when they are
// deleted or cordoned after the pod was admitted.
import { expect } from 'chai';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { printTailOnFailure, startE2E, stopE2E, type E2E } from './support/harness.js';
import { createPod } from './support/cluster-objects.js';
import { waitForBinding } from './support/placement.js';
import { ShortlistReleaser } from '../../src/release/releaser.js';
import { RELEASED_CONFIGMAP_NAME } from '../../src/cluster/released-owners.js';
import { injectionAnnotation, POLICY_NAMESPACE } from './support/harness.js';
import { eventually } from './support/cluster-objects.js';
import { CONTROLLER_USER, impersonatingClient, installShippedSecurity } from './support/shipped-security.js';
import {
  createScaleNamespaces,
  createScaleNodes,
  formatScaleTable,
  gatedPod,
  holderIndices,
  inParallel,
  ownedPod,
  patchNode,
  runScaleArms,
  scaleNodeName,
  setHolders,
  shortlistOf,
  ungate,
  useMode,
  waitForHolders,
  SCALE_POD_COUNT,
  SCALE_SCENARIO,
  type ScaleNamespaces,
} from './support/scale-placement.js';

const RUN = 'sp';
const NODES = 1000;

describe('e2e: placement at 1,000 nodes with the default scheduler configuration', function () {
  this.timeout(300_000);
  let env: E2E | undefined;
  let ns: ScaleNamespaces;
  const holderIdx = holderIndices(NODES);
  const holders = holderIdx.map((i) => scaleNodeName(RUN, i));

  before(async function () {
    this.timeout(60 * 60_000); // the first run may build the control plane binaries
    env = await startE2E('scale-placement');
    const t0 = Date.now();
    await createScaleNodes(env.kc, RUN, 0, NODES);
    await setHolders(env.kc, RUN, [], holderIdx);
    ns = await createScaleNamespaces(env.kc, RUN);
    await waitForHolders(env.kc, ns.webhook, holders);
    console.log(`      ${NODES} nodes created and seen by the webhook after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    await stopE2E(env);
  });

  it('shortlist mode puts at least 95% of 30 pods on the 3 holders; baseline and preferred mode measured in the same run', async () => {
    const result = await runScaleArms(env!.kc, ns, NODES, holders, ['baseline', 'preferred', 'shortlist'], (l) => console.log(`      ${l}`));
    console.log('\n' + formatScaleTable([result]).replace(/^/gm, '      ') + '\n');
    for (const arm of result.arms) expect(arm.pods, `${arm.kind} pods bound`).to.equal(SCALE_POD_COUNT);
    const shortlist = result.arms.find((a) => a.kind === 'shortlist')!;
    expect(shortlist.shortlisted, 'pods carrying a shortlist').to.equal(SCALE_POD_COUNT);
    expect(shortlist.onWarm / shortlist.pods, 'shortlist share on holders').to.be.at.least(0.95);
    expect(result.arms.find((a) => a.kind === 'baseline')!.onWarm, 'baseline must not look steered').to.be.below(SCALE_POD_COUNT);
  });

  describe('never unschedulable (shortlist mode)', () => {
    before(async () => {
      await useMode(env!.kc, 'shortlist', ns.webhook, ns.webhookOwner);
      // The controller's account and pod fence as shipped, for the release tests below.
      await installShippedSecurity(env!.kc, { helperImage: 'registry.k8s.io/pause:3.10' });
    });

    it('holders with room for 2 pods each: 6 pods on them, the other 24 on named fallbacks, none Pending', async () => {
      // 250m cpu of allocatable fits two pods of 100m.
      for (const name of holders) await patchNode(env!.kc, name, { status: { allocatable: { cpu: '250m', memory: '32Gi', pods: '110' } } });
      try {
        const names = Array.from({ length: SCALE_POD_COUNT }, (_, i) => `full-${i + 1}`);
        await inParallel(names, 4, (name) => createPod(env!.kc, ownedPod(SCALE_SCENARIO, name, ns.webhook, ns.webhookOwner)));
        const bound = [...(await waitForBinding(env!.kc, names.map((name) => ({ namespace: ns.webhook, name })), 120_000)).values()];
        expect(bound.filter((p) => holders.includes(p.spec!.nodeName!))).to.have.length(6);
        for (const pod of bound) expect(shortlistOf(pod), pod.metadata!.name).to.include(pod.spec!.nodeName!);
      } finally {
        await env!.core.deleteCollectionNamespacedPod({ namespace: ns.webhook, gracePeriodSeconds: 0 });
        for (const name of holders) await patchNode(env!.kc, name, { status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' } } });
      }
    });

    it('holders deleted or cordoned after the pods were admitted: every pod still binds, on a named fallback', async () => {
      const names = Array.from({ length: 10 }, (_, i) => `gone-${i + 1}`);
      const admitted: V1Pod[] = [];
      await inParallel(names, 4, async (name) => admitted.push(await createPod(env!.kc, gatedPod(name, ns.webhook, ns.webhookOwner))));
      for (const pod of admitted) expect(shortlistOf(pod), 'shortlist names the holders').to.include.members(holders);
      // Two holders go away, the third is cordoned; then the pods may be scheduled.
      await env!.core.deleteNode({ name: holders[0]! });
      await env!.core.deleteNode({ name: holders[1]! });
      await patchNode(env!.kc, holders[2]!, { spec: { unschedulable: true } });
      try {
        await ungate(env!.kc, ns.webhook, names);
        const bound = [...(await waitForBinding(env!.kc, names.map((name) => ({ namespace: ns.webhook, name })), 120_000)).values()];
        for (const pod of bound) {
          expect(holders, pod.metadata!.name).to.not.include(pod.spec!.nodeName);
          expect(shortlistOf(pod), pod.metadata!.name).to.include(pod.spec!.nodeName!);
        }
      } finally {
        await env!.core.deleteCollectionNamespacedPod({ namespace: ns.webhook, gracePeriodSeconds: 0 });
        await createScaleNodes(env!.kc, RUN, holderIdx[0]!, holderIdx[0]! + 1);
        await createScaleNodes(env!.kc, RUN, holderIdx[1]!, holderIdx[1]! + 1);
        await patchNode(env!.kc, holders[2]!, { spec: { unschedulable: false } });
        await setHolders(env!.kc, RUN, [], holderIdx);
      }
    });

    it('every named node full: the controller releases the stranded pods, and their replacements bind elsewhere with preferences only', async function () {
      this.timeout(240_000);
      const kc = env!.kc;
      await useMode(kc, 'shortlist', ns.webhook, ns.webhookOwner, '  releaseAfterSeconds: 5\n');
      const names = Array.from({ length: 6 }, (_, i) => `stranded-${i + 1}`);
      const admitted: V1Pod[] = [];
      await inParallel(names, 4, async (name) => admitted.push(await createPod(kc, gatedPod(name, ns.webhook, ns.webhookOwner))));
      const named = shortlistOf(admitted[0]!);
      expect(named, 'the shortlist').to.have.length(100);
      // Every named node is full: no allocatable cpu left for a 100m pod.
      await inParallel(named, 8, (name) => patchNode(kc, name, { status: { allocatable: { cpu: '0', memory: '32Gi', pods: '110' } } }));
      // What the controller runs, as the controller's service account under the shipped RBAC.
      const asController = await impersonatingClient(env!.cp.kubeconfigPath, CONTROLLER_USER);
      const releaser = new ShortlistReleaser(asController, { namespace: POLICY_NAMESPACE, afterSeconds: () => 5, intervalMs: 1000, settleMs: 1000 });
      releaser.start();
      try {
        await ungate(kc, ns.webhook, names);
        // The test plays the ReplicaSet controller: each deleted pod is replaced.
        const replaced = new Map<string, V1Pod>();
        await eventually(
          'every stranded pod to be released and replaced',
          async () => {
            const left = new Set((await env!.core.listNamespacedPod({ namespace: ns.webhook })).items.map((p) => p.metadata!.name!));
            for (const name of names) {
              if (left.has(name) || replaced.has(name)) continue;
              replaced.set(name, await createPod(kc, ownedPod(SCALE_SCENARIO, `${name}-r`, ns.webhook, ns.webhookOwner)));
            }
            return replaced.size === names.length ? true : undefined;
          },
          120_000,
          500,
        );
        for (const replacement of replaced.values()) {
          expect(shortlistOf(replacement), `${replacement.metadata!.name} gets no shortlist`).to.deep.equal([]);
          expect(injectionAnnotation(replacement), `${replacement.metadata!.name} is still steered by preferences`).to.be.a('string');
        }
        const replacements = [...replaced.values()].map((p) => p.metadata!.name!);
        const bound = [...(await waitForBinding(kc, replacements.map((name) => ({ namespace: ns.webhook, name })), 120_000)).values()];
        for (const pod of bound) expect(named, pod.metadata!.name).to.not.include(pod.spec!.nodeName);
      } finally {
        await releaser.stop();
        await env!.core.deleteCollectionNamespacedPod({ namespace: ns.webhook, gracePeriodSeconds: 0 });
        await env!.core.deleteNamespacedConfigMap({ name: RELEASED_CONFIGMAP_NAME, namespace: POLICY_NAMESPACE }).catch(() => undefined);
        await inParallel(named, 8, (name) => patchNode(kc, name, { status: { allocatable: { cpu: '8', memory: '32Gi', pods: '110' } } }));
      }
    });

    it("the controller's pod fence lets it delete unbound shortlisted pods of a ReplicaSet, and no other pod", async () => {
      const kc = env!.kc;
      const asController = (await impersonatingClient(env!.cp.kubeconfigPath, CONTROLLER_USER)).makeApiClient(CoreV1Api);
      const shortlisted = await createPod(kc, gatedPod('fence-shortlisted', ns.webhook, ns.webhookOwner));
      expect(shortlistOf(shortlisted)).to.have.length(100);
      const bare = gatedPod('fence-bare', ns.webhook, ns.webhookOwner);
      delete bare.metadata!.ownerReferences;
      await createPod(kc, bare);
      // Bound pods are left alone by the webhook; this one copies the injection record by hand.
      const bound = ownedPod(SCALE_SCENARIO, 'fence-bound', ns.webhook, ns.webhookOwner);
      bound.spec!.nodeName = scaleNodeName(RUN, 5);
      bound.metadata!.annotations = { 'image-locality.dev/injected': shortlisted.metadata!.annotations!['image-locality.dev/injected']! };
      await createPod(kc, bound);
      try {
        // A new ValidatingAdmissionPolicy takes effect within moments; wait for it with dry runs.
        await eventually(
          'the pod fence to be in force',
          async () => asController.deleteNamespacedPod({ name: 'fence-bare', namespace: ns.webhook, dryRun: 'All' }).then(() => undefined, () => true),
          30_000,
          250,
        );
        for (const name of ['fence-bare', 'fence-bound']) {
          const denied = await asController.deleteNamespacedPod({ name, namespace: ns.webhook }).then(
            () => undefined,
            (err: { code?: number }) => err.code,
          );
          expect(denied, `deleting ${name} as the controller`).to.be.oneOf([403, 422]);
        }
        await asController.deleteNamespacedPod({ name: 'fence-shortlisted', namespace: ns.webhook });
      } finally {
        await env!.core.deleteCollectionNamespacedPod({ namespace: ns.webhook, gracePeriodSeconds: 0 });
      }
    });
  });
});
