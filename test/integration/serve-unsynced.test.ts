import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { admissionReviewFor, makePod } from '../support/objects.js';
import { startWebhook, writeUnreachableKubeconfig, type RunningWebhook } from '../e2e/support/webhook-process.js';
import { webhookGet } from '../e2e/support/harness.js';
import { eventually } from '../e2e/support/cluster-objects.js';

/**
 * `serve` pointed at an API server that is not there: it must say so on /readyz
 * (never claim a view it has not listed), keep retrying, and admit pods unchanged.
 */
describe('serve before the cluster view is synced', function () {
  this.timeout(60_000);
  let webhook: RunningWebhook | undefined;

  before(async () => {
    const kubeconfig = await writeUnreachableKubeconfig();
    webhook = await startWebhook({ kubeconfigPath: kubeconfig, env: { LOG_LEVEL: 'debug' } });
    // Healthy (the process serves) but not ready (nothing listed yet).
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const health = await webhookGet(webhook, '/healthz').catch(() => undefined);
      if (health?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await webhook?.stop();
  });

  it('answers /readyz 503 with the reason, and retries with backoff', async () => {
    const ready = await webhookGet(webhook as RunningWebhook, '/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body).to.match(/waiting for first sync of nodes/);
    await new Promise((r) => setTimeout(r, 1500));
    const retries = (webhook as RunningWebhook).output().split('\n').filter((l) => l.includes('restarting with backoff') && l.includes('"informer":"nodes"'));
    expect(retries.length).to.be.greaterThan(1);
    const delays = retries.map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
    expect(delays[1]).to.be.greaterThan(delays[0] as number);
  });

  it('admits pods unchanged while not synced (fail open)', async () => {
    const w = webhook as RunningWebhook;
    const body = JSON.stringify(admissionReviewFor(makePod('p', 'apps', ['nginx:1.25'])));
    const ca = readFileSync(join(w.certDir, 'ca.crt'));
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: w.port, path: '/mutate', method: 'POST', ca, headers: { 'content-type': 'application/json' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(reply.status).to.equal(200);
    const review = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean; patch?: string } };
    expect(review.response).to.deep.equal({ uid: 'uid-p', allowed: true });
    // Unchanged because the view is not synced, not because of anything about the pod.
    // The log line reaches the pipe on its own schedule, possibly after the answer.
    await eventually('the not-synced log line', async () => (w.output().includes('cluster view not synced yet') ? true : undefined), 5_000);
  });
});
