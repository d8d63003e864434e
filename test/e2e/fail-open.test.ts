// End to end: an unavailable webhook never blocks pod creation (failurePolicy
// Ignore in the shipped manifest), and what that costs in creation latency.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { makePod } from '../support/objects.js';
import { createNamespace, createNode, createPod, eventually } from './support/cluster-objects.js';
import {
  injectionAnnotation,
  preferredNodeNames,
  printTailOnFailure,
  setUp,
  startE2E,
  stopE2E,
  waitUntilInjecting,
  type E2E,
} from './support/harness.js';
import { registerWebhook, renderLocalWebhookConfiguration } from './support/register.js';
import { freePort } from './support/webhook-process.js';

const NS = 'fail-open';
const IMG = 'registry.example/fo/app:1';

describe('e2e: fail open when the webhook is unavailable', function () {
  this.timeout(120_000);
  let env: E2E | undefined;
  const e = (): E2E => env!;
  let hang: Server | undefined;
  const hangSockets = new Set<Socket>();

  /** Create a pod and time the apiserver's answer. */
  async function timedCreate(name: string): Promise<{ ms: number; annotated: boolean }> {
    const t0 = performance.now();
    const pod = await createPod(e().kc, makePod(name, NS, [IMG]));
    const ms = Math.round(performance.now() - t0);
    expect(pod.metadata?.uid, `${name} was created`).to.be.a('string');
    const stored = await e().core.readNamespacedPod({ name, namespace: NS });
    return { ms, annotated: injectionAnnotation(stored) !== undefined };
  }

  function apiserverLog(): string {
    try {
      return readFileSync(join(e().cp.dir, 'logs', 'kube-apiserver.log'), 'utf8');
    } catch {
      return '';
    }
  }

  before(async function () {
    this.timeout(240_000);
    env = await startE2E('fail-open');
    const started = env;
    await setUp(started, async () => {
      await createNode(started.kc, { name: 'holder', images: [{ names: [IMG], sizeBytes: 100_000_000 }] });
      await createNode(started.kc, { name: 'cold' });
      await createNamespace(started.kc, NS, true);
      await waitUntilInjecting(started.kc, NS, IMG);
    });
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    for (const s of hangSockets) s.destroy();
    await new Promise<void>((resolve) => (hang ? hang.close(() => resolve()) : resolve()));
    await stopE2E(env);
  });

  it('creates pods unchanged, quickly, when the webhook process is gone (connection refused)', async function () {
    const up = await timedCreate('while-up');
    expect(up.annotated, 'mutated while the webhook runs').to.equal(true);
    console.log(`      [fail-open] webhook up: pod created in ${up.ms} ms`);

    await e().webhook.kill();
    const admission = e().kc.makeApiClient(AdmissionregistrationV1Api);
    const registration = await admission.readMutatingWebhookConfiguration({ name: e().registration });
    const webhookDef = registration.webhooks?.[0];
    expect(webhookDef?.failurePolicy).to.equal('Ignore');
    const timeoutSeconds = webhookDef?.timeoutSeconds ?? 10;

    for (let i = 1; i <= 3; i++) {
      const down = await timedCreate(`while-down-${i}`);
      console.log(`      [fail-open] webhook down (connection refused, timeoutSeconds ${timeoutSeconds}): pod ${i} created in ${down.ms} ms`);
      expect(down.annotated, 'not mutated: the webhook was down').to.equal(false);
      expect(down.ms).to.be.below(timeoutSeconds * 1000 + 2000);
    }
    // The apiserver did call the webhook and failed open (not merely skip it).
    const line = await eventually('the apiserver to log that it failed open', async () =>
      apiserverLog().split('\n').find((l) => /failing open/i.test(l) && l.includes('pods.image-locality.dev')), 10_000, 200);
    console.log(`      [fail-open] apiserver: ${line.slice(0, 300)}`);
  });

  it('creates pods when the webhook accepts connections but never answers, after about timeoutSeconds', async function () {
    const timeoutSeconds = 2;
    const port = await freePort();
    let connections = 0;
    hang = createServer((socket) => {
      // Accept, read, never write: not even a TLS handshake.
      connections += 1;
      hangSockets.add(socket);
      socket.on('close', () => hangSockets.delete(socket));
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) => hang!.listen(port, '127.0.0.1', resolve));
    await registerWebhook(
      e().kc,
      renderLocalWebhookConfiguration({ port, caBundle: e().webhook.caBundle, timeoutSeconds }),
    );

    // The apiserver picks up the new registration asynchronously: create until a
    // creation actually went through the hanging server.
    let measured: number | undefined;
    for (let i = 1; i <= 10 && measured === undefined; i++) {
      const seen = connections;
      const r = await timedCreate(`hang-${i}`);
      expect(r.annotated).to.equal(false);
      if (connections > seen) {
        measured = r.ms;
        console.log(`      [fail-open] webhook hangs (timeoutSeconds ${timeoutSeconds}): pod created in ${r.ms} ms`);
      } else {
        console.log(`      [fail-open] pod hang-${i} created in ${r.ms} ms before the apiserver used the new registration`);
      }
    }
    expect(measured, 'a creation went through the hanging webhook').to.be.a('number');
    expect(measured!).to.be.within(timeoutSeconds * 1000 - 500, timeoutSeconds * 1000 + 5000);

    // Once more, now that the registration is surely in use.
    const again = await timedCreate('hang-again');
    console.log(`      [fail-open] webhook hangs: next pod created in ${again.ms} ms`);
    expect(again.ms).to.be.within(timeoutSeconds * 1000 - 500, timeoutSeconds * 1000 + 5000);
    expect(preferredNodeNames(await e().core.readNamespacedPod({ name: 'hang-again', namespace: NS }))).to.deep.equal([]);
  });
});
