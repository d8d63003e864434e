// End to end: the webhook follows the cluster while it runs. Policy ConfigMap edits
// (valid and invalid) and node image changes reach the next pod without a restart.
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { createNamespace, createNode, deleteNode, eventually, setNodeImages } from './support/cluster-objects.js';
import {
  deletePolicy,
  injectionAnnotation,
  metricValue,
  preferredNodeNames,
  preferredWeights,
  printTailOnFailure,
  probe,
  setPolicy,
  setUp,
  startE2E,
  stopE2E,
  waitUntilInjecting,
  webhookGet,
  type E2E,
} from './support/harness.js';

const POLICY_NS = 'pn-policy';
const NODES_NS = 'pn-nodes';
const POLICY_IMG = 'registry.example/pn/policy-app:1';
const NODE_IMG = 'registry.example/pn/node-app:2';
const RELOADS = 'image_locality_policy_reloads_total';
const MB = 1_000_000;

describe('e2e: policy and node changes while the webhook runs', function () {
  this.timeout(120_000);
  let env: E2E | undefined;
  const e = (): E2E => env!;
  let pid: number | undefined;

  async function reloads(result: 'applied' | 'invalid'): Promise<number> {
    const res = await webhookGet(e().webhook, '/metrics');
    expect(res.status).to.equal(200);
    const v = metricValue(res.body, RELOADS, { result });
    expect(v, `${RELOADS}{result="${result}"} in /metrics`).to.be.a('number');
    return v!;
  }

  /** Probe (dry-run) until `accept` says the pod shows the change; returns the time it took. */
  async function timeUntil(what: string, namespace: string, image: string, accept: (pod: V1Pod) => boolean, timeoutMs = 15_000): Promise<number> {
    const t0 = Date.now();
    await eventually(what, async () => {
      const pod = await probe(e().kc, namespace, image);
      return accept(pod) ? pod : undefined;
    }, timeoutMs, 25);
    return Date.now() - t0;
  }

  const nodesOf = (pod: V1Pod): string[] => [...preferredNodeNames(pod)].sort();
  const sameNodes = (want: string[]) => (pod: V1Pod): boolean => JSON.stringify(nodesOf(pod)) === JSON.stringify([...want].sort());

  before(async function () {
    this.timeout(240_000);
    env = await startE2E('policy-and-nodes');
    const started = env;
    await setUp(started, async () => {
      pid = started.webhook.process.pid;
      await createNode(started.kc, { name: 'p-holder', images: [{ names: [POLICY_IMG], sizeBytes: 100 * MB }] });
      await createNode(started.kc, { name: 'p-cold' });
      await createNode(started.kc, { name: 'n1', images: [{ names: [NODE_IMG], sizeBytes: 100 * MB }] });
      await createNode(started.kc, { name: 'n2' });
      await createNode(started.kc, { name: 'n3' });
      await createNamespace(started.kc, POLICY_NS, true);
      await createNamespace(started.kc, NODES_NS, true);
      await waitUntilInjecting(started.kc, POLICY_NS, POLICY_IMG);
      await waitUntilInjecting(started.kc, NODES_NS, NODE_IMG);
    });
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    await stopE2E(env);
  });

  it('applies ConfigMap policy changes without a restart: mode off, weight, images.exclude, deletion', async function () {
    const before = await probe(e().kc, POLICY_NS, POLICY_IMG);
    expect(preferredWeights(before)).to.deep.equal({ 'p-holder': 80 }, 'default weight');

    await setPolicy(e().core, 'affinity:\n  mode: off\n');
    const off = await timeUntil('mode off to apply', POLICY_NS, POLICY_IMG, (p) => p.spec?.affinity === undefined && injectionAnnotation(p) === undefined);
    console.log(`      [policy] mode off in effect after ${off} ms`);

    await setPolicy(e().core, 'affinity:\n  mode: preferred\n  weight: 40\n');
    const weight = await timeUntil('weight 40 to apply', POLICY_NS, POLICY_IMG, (p) => preferredWeights(p)['p-holder'] === 40);
    console.log(`      [policy] weight 40 in effect after ${weight} ms`);

    await setPolicy(e().core, 'images:\n  exclude: ["registry.example/pn/policy-*"]\n');
    const excluded = await timeUntil('images.exclude to apply', POLICY_NS, POLICY_IMG, (p) => injectionAnnotation(p) === undefined);
    console.log(`      [policy] images.exclude in effect after ${excluded} ms`);
    // Not excluded: still injected, with the default weight again (the weight line is gone).
    const other = await probe(e().kc, NODES_NS, NODE_IMG);
    expect(preferredWeights(other)).to.deep.equal({ n1: 80 });

    await deletePolicy(e().core);
    const reset = await timeUntil('defaults after deletion', POLICY_NS, POLICY_IMG, (p) => preferredWeights(p)['p-holder'] === 80);
    console.log(`      [policy] defaults back after deletion in ${reset} ms`);

    expect(e().webhook.process.pid).to.equal(pid);
    expect(e().webhook.process.exitCode).to.equal(null);
  });

  it('reports an invalid policy (log names affinity.weight, invalid reload counted) and keeps the last good one', async function () {
    await setPolicy(e().core, 'affinity:\n  weight: 40\n');
    await timeUntil('weight 40 to apply', POLICY_NS, POLICY_IMG, (p) => preferredWeights(p)['p-holder'] === 40);
    const invalidBefore = await reloads('invalid');
    const appliedBefore = await reloads('applied');
    const outputBefore = e().webhook.output().length;

    await setPolicy(e().core, 'affinity: {weight: 500}\n');
    await eventually('the invalid reload to be counted', async () => ((await reloads('invalid')) >= invalidBefore + 1 ? true : undefined), 15_000, 100);
    expect(await reloads('applied')).to.equal(appliedBefore);

    const errorLines = await eventually('an error log line about affinity.weight', async () => {
      const lines = e()
        .webhook.output()
        .slice(outputBefore)
        .split('\n')
        .filter((l) => l.includes('"level":"error"') && l.includes('affinity.weight'));
      return lines.length > 0 ? lines : undefined;
    }, 5_000);
    console.log(`      [policy] ${errorLines[0]!.slice(0, 400)}`);
    expect(errorLines[0]).to.match(/500/);

    // The last good policy (weight 40) stays in effect, for many pods in a row.
    for (let i = 0; i < 5; i++) {
      const pod = await probe(e().kc, POLICY_NS, POLICY_IMG);
      expect(preferredWeights(pod)).to.deep.equal({ 'p-holder': 40 });
    }

    // Fixing the ConfigMap applies the fix.
    await setPolicy(e().core, 'affinity: {weight: 60}\n');
    await timeUntil('weight 60 to apply', POLICY_NS, POLICY_IMG, (p) => preferredWeights(p)['p-holder'] === 60);
    expect(await reloads('applied')).to.equal(appliedBefore + 1);
    await deletePolicy(e().core);
    await timeUntil('defaults after deletion', POLICY_NS, POLICY_IMG, (p) => preferredWeights(p)['p-holder'] === 80);
  });

  // Each step waits up to timeUntil's 15 s (room for a loaded machine); the times are
  // printed, not asserted: how fast a watch delivers is no property of this product.
  it('reflects node image changes (status patches, new and deleted nodes) in the next pods', async function () {
    const timings: Array<[string, number]> = [];
    const step = async (what: string, change: () => Promise<unknown>, want: string[]): Promise<void> => {
      const t0 = Date.now();
      await change();
      await timeUntil(what, NODES_NS, NODE_IMG, sameNodes(want));
      timings.push([what, Date.now() - t0]);
    };
    expect(nodesOf(await probe(e().kc, NODES_NS, NODE_IMG))).to.deep.equal(['n1']);

    await step('n2 pulled the image', () => setNodeImages(e().kc, 'n2', [{ names: [NODE_IMG], sizeBytes: 100 * MB }]), ['n1', 'n2']);
    await step('n1 garbage-collected it', () => setNodeImages(e().kc, 'n1', []), ['n2']);
    await step('new node n4 holding it', () => createNode(e().kc, { name: 'n4', images: [{ names: [NODE_IMG], sizeBytes: 100 * MB }] }), ['n2', 'n4']);
    await step('n2 deleted', () => deleteNode(e().kc, 'n2'), ['n4']);
    await step('n3 pulled it (tag and digest names)', () => setNodeImages(e().kc, 'n3', [{ names: [`registry.example/pn/node-app@sha256:${'c'.repeat(64)}`, NODE_IMG], sizeBytes: 100 * MB }]), ['n3', 'n4']);

    for (const [what, ms] of timings) console.log(`      [nodes] ${what}: reflected after ${ms} ms`);
  });
});
