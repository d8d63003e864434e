// `image-locality serve` and `image-locality controller` for a lab: both run
// outside the lab's namespace with the lab's bridged kubeconfig; the webhook's
// port is exposed inside so that the apiserver reaches it at the very URL the
// shipped registration names (https://127.0.0.1:PORT/mutate). Warming is the
// controller's job since the two programs were split; the handle returned here
// stops both and shows both outputs, so callers keep one handle.
import { registerWebhook, renderLocalWebhookConfiguration } from '../support/register.js';
import { startController, startWebhook, type RunningController, type RunningWebhook } from '../support/webhook-process.js';
import type { Lab } from './lab.js';

export async function startLabWebhook(lab: Lab, env: Record<string, string> = {}): Promise<RunningWebhook> {
  const processEnv = {
    // Pre-pull pods run the exit binary from the lab's own helper image.
    IMAGE_LOCALITY_HELPER_IMAGE: lab.images.helper.ref,
    IMAGE_LOCALITY_LEASE_SECONDS: '4',
    IMAGE_LOCALITY_RENEW_SECONDS: '3',
    IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
    POD_NAME: 'lab-controller',
    ...env,
  };
  const webhook = await startWebhook({ kubeconfigPath: lab.kubeconfigPath, env: processEnv });
  let controller: RunningController | undefined;
  try {
    await webhook.waitReady(60_000);
    controller = await startController({ kubeconfigPath: lab.kubeconfigPath, env: processEnv });
    await controller.waitReady(60_000);
    await lab.bridge.expose(webhook.port);
    await registerWebhook(lab.kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
  } catch (err) {
    await controller?.kill();
    await webhook.kill();
    throw err;
  }
  const both = controller;
  return {
    ...webhook,
    process: webhook.process,
    output: () => `${webhook.output()}${both.output()}`,
    waitReady: async (timeoutMs) => {
      await webhook.waitReady(timeoutMs);
      await both.waitReady(timeoutMs);
    },
    stop: async () => {
      await both.stop();
      await webhook.stop();
    },
    kill: async () => {
      await both.kill();
      await webhook.kill();
    },
  };
}
