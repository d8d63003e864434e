// `image-locality serve` for a lab: the process runs outside the lab's namespace
// with the lab's bridged kubeconfig, and its port is exposed inside so that the
// apiserver reaches it at the very URL the shipped registration names
// (https://127.0.0.1:PORT/mutate).
import { registerWebhook, renderLocalWebhookConfiguration } from '../support/register.js';
import { startWebhook, type RunningWebhook } from '../support/webhook-process.js';
import type { Lab } from './lab.js';

export async function startLabWebhook(lab: Lab, env: Record<string, string> = {}): Promise<RunningWebhook> {
  const webhook = await startWebhook({
    kubeconfigPath: lab.kubeconfigPath,
    env: {
      // Pre-pull pods run the exit binary from the lab's own helper image.
      IMAGE_LOCALITY_HELPER_IMAGE: lab.images.helper.ref,
      IMAGE_LOCALITY_LEASE_SECONDS: '4',
      IMAGE_LOCALITY_RENEW_SECONDS: '3',
      IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
      POD_NAME: 'lab-webhook',
      ...env,
    },
  });
  try {
    await webhook.waitReady(60_000);
    await lab.bridge.expose(webhook.port);
    await registerWebhook(lab.kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
    return webhook;
  } catch (err) {
    await webhook.kill();
    throw err;
  }
}
