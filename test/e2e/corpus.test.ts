// End to end: a corpus of varied pod specs created through the real apiserver in
// an opted-in namespace, in the default (preferred) mode and in required mode.
// Every pod must pass the apiserver's validation after mutation, keep the user's
// own constraints, and get the injection exactly when its images are on nodes it
// may run on.
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { onlyAffinityChanged, preferredModeProblems, requiredModeProblems } from './corpus/checks.js';
import { CORPUS_NODES, IMAGES } from './corpus/nodes.js';
import { CORPUS, type CorpusCase } from './corpus/pods.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import {
  printTailOnFailure,
  probe,
  requiredNodeNames,
  setPolicy,
  setUp,
  startE2E,
  stopE2E,
  waitUntilInjecting,
  type E2E,
} from './support/harness.js';


const PREFERRED_NS = 'corpus-preferred';
const REQUIRED_NS = 'corpus-required';
const CONTROL_NS = 'corpus-control';

// Created last, tainted so that no corpus pod may use it: once the webhook serves a
// pod that tolerates it, it has seen every node created before it.
const MARKER_IMAGE = 'registry.example/e2e/marker:1';
const MARKER_TOLERATION = { tolerations: [{ key: 'e2e-marker', operator: 'Exists', effect: 'NoSchedule' }] };

interface Created {
  c: CorpusCase;
  sent: V1Pod;
  got?: V1Pod;
  error?: string;
}

async function createCorpus(env: E2E, namespace: string): Promise<Created[]> {
  const out: Created[] = [];
  for (const c of CORPUS) {
    const sent = c.pod(namespace);
    try {
      out.push({ c, sent, got: await createPod(env.kc, structuredClone(sent)) });
    } catch (err) {
      out.push({ c, sent, error: apiErrorMessage(err) });
    }
  }
  return out;
}

/** The apiserver's own words (Status.message) rather than the client's wrapper text. */
function apiErrorMessage(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown };
  try {
    const status = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string };
    if (status?.message) return `${String(e.code)}: ${status.message}`;
  } catch {
    // Not a Status body.
  }
  return String(err).slice(0, 1000);
}

function report(label: string, problems: Array<[string, string[]]>): string[] {
  const lines = problems.filter(([, p]) => p.length > 0).map(([name, p]) => `${name}: ${p.join('; ')}`);
  if (lines.length > 0) console.error(`      [${label}] problems:\n        ${lines.join('\n        ')}`);
  return lines;
}

describe('e2e: a corpus of pod specs through the real apiserver', function () {
  this.timeout(120_000);
  let env: E2E | undefined;
  const e = (): E2E => env!;

  before(async function () {
    this.timeout(240_000);
    expect(CORPUS.length).to.be.at.least(30);
    env = await startE2E('corpus');
    const started = env;
    await setUp(started, async () => {
      for (const node of CORPUS_NODES) await createNode(started.kc, node);
      await createNode(started.kc, {
        name: 'node-marker',
        taints: [{ key: 'e2e-marker', value: 'true', effect: 'NoSchedule' }],
        images: [{ names: [MARKER_IMAGE], sizeBytes: 1_000_000 }],
      });
      await createNamespace(started.kc, PREFERRED_NS, true);
      await createNamespace(started.kc, REQUIRED_NS, true);
      await createNamespace(started.kc, CONTROL_NS, false);
      await waitUntilInjecting(started.kc, PREFERRED_NS, MARKER_IMAGE, MARKER_TOLERATION);
      await waitUntilInjecting(started.kc, REQUIRED_NS, MARKER_IMAGE, MARKER_TOLERATION);
    });
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    await stopE2E(env);
  });

  it(`preferred mode (default): all ${CORPUS.length} pods are accepted, keep every user constraint, and are injected where their images are`, async function () {
    const t0 = Date.now();
    const results = await createCorpus(e(), PREFERRED_NS);
    const controls = await createCorpus(e(), CONTROL_NS);
    console.log(`      [corpus] created ${results.length} + ${controls.length} control pods in ${Date.now() - t0} ms`);

    const rejected = [...results, ...controls].filter((r) => r.error).map((r) => `${r.sent.metadata?.namespace}/${r.c.name}: ${r.error}`);
    expect(rejected, 'pods rejected by the apiserver').to.deep.equal([]);

    const problems = report(
      'preferred',
      results.map((r, i) => [
        r.c.name,
        [...preferredModeProblems(r.sent, r.got!, r.c.expectNodes), ...onlyAffinityChanged(controls[i]!.got!, r.got!)],
      ]),
    );
    expect(problems).to.deep.equal([]);

    const injected = results.filter((r) => r.c.expectNodes !== null).length;
    console.log(`      [corpus] ${injected} of ${results.length} pods injected, ${results.length - injected} left alone as expected`);
    // The control namespace did not opt in: nothing there was touched.
    const touched = controls.filter((r) => r.got!.metadata?.annotations?.['image-locality.dev/injected'] !== undefined);
    expect(touched.map((r) => r.c.name)).to.deep.equal([]);
  });

  it(`required mode (policy affinity.mode: required): all ${CORPUS.length} pods are accepted and their required terms imply the user's`, async function () {
    await setPolicy(e().core, 'affinity:\n  mode: required\n');
    const t0 = Date.now();
    await eventually('the required policy to be in effect', async () => {
      const pod = await probe(e().kc, REQUIRED_NS, MARKER_IMAGE, MARKER_TOLERATION);
      return requiredNodeNames(pod).includes('node-marker') ? pod : undefined;
    }, 20_000);
    console.log(`      [corpus] required policy in effect after ${Date.now() - t0} ms`);

    const results = await createCorpus(e(), REQUIRED_NS);
    const rejected = results.filter((r) => r.error).map((r) => `${r.c.name}: ${r.error}`);
    expect(rejected, 'pods rejected by the apiserver').to.deep.equal([]);
    const problems = report('required', results.map((r) => [r.c.name, requiredModeProblems(r.sent, r.got!, r.c.expectNodes)]));
    expect(problems).to.deep.equal([]);
  });

  it('a required `matchFields metadata.name NotIn [node]` term (avoid one node) is a constraint, not pinning: the pod is injected', async function () {
    await setPolicy(e().core, 'affinity:\n  mode: preferred\n');
    await eventually('preferred mode', async () => {
      const p = await probe(e().kc, PREFERRED_NS, MARKER_IMAGE, MARKER_TOLERATION);
      return requiredNodeNames(p).length === 0 && p.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ? p : undefined;
    }, 20_000);
    const sent: V1Pod = {
      metadata: { name: 'avoid-node-c', namespace: PREFERRED_NS },
      spec: {
        containers: [{ name: 'web', image: IMAGES.web }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['node-c'] }] }],
            },
          },
        },
      },
    };
    const got = await createPod(e().kc, structuredClone(sent));
    // a and b hold web and are allowed; d and cold are allowed and lack it.
    expect(preferredModeProblems(sent, got, ['node-a', 'node-b'])).to.deep.equal([]);
  });

  it('Gt/Lt never match a node label that is not an integer ("10x"): in required mode the pod stays schedulable', async function () {
    const image = 'registry.example/bugs/gt-app:1';
    await createNode(e().kc, { name: 'node-cores-10x', labels: { cores: '10x' }, images: [{ names: [image], sizeBytes: 100_000_000 }] });
    await createNode(e().kc, { name: 'node-cores-8', labels: { cores: '8' } });
    await setPolicy(e().core, 'affinity:\n  mode: required\n');
    await eventually('required mode and the new nodes', async () => {
      const p = await probe(e().kc, REQUIRED_NS, image);
      return requiredNodeNames(p).length > 0 ? p : undefined;
    }, 20_000);
    await createPod(e().kc, {
      metadata: { name: 'cores-gt-5', namespace: REQUIRED_NS },
      spec: {
        containers: [{ name: 'app', image }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['5'] }] }],
            },
          },
        },
      },
    });
    // The user's own term allows node-cores-8 (8 > 5); "10x" is no integer, so the
    // scheduler never matches node-cores-10x. The pod must still be schedulable.
    const pod = await eventually('a scheduling decision', async () => {
      const p = await e().core.readNamespacedPod({ name: 'cores-gt-5', namespace: REQUIRED_NS });
      return p.spec?.nodeName || p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? p : undefined;
    }, 30_000, 200);
    const said = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message;
    expect(said, `scheduler: ${said}; pod affinity: ${JSON.stringify(pod.spec?.affinity?.nodeAffinity)}`).to.equal(undefined);
    expect(pod.spec?.nodeName).to.equal('node-cores-8');
  });
});
