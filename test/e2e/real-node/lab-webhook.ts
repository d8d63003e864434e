// image-locality as an operator runs it, for a lab: `serve` (admission) and
// `controller` (warming) as processes outside the lab's namespace, using the lab's
// bridged kubeconfig. Each acts as its shipped service account (serve read-only,
// the controller under the shipped RBAC and pre-pull fence); the webhook's port is exposed inside the lab so
// the apiserver reaches it at the URL the shipped registration names
// (https://127.0.0.1:PORT/mutate).
import { registerWebhook, renderLocalWebhookConfiguration } from '../support/register.js';
import { CONTROLLER_USER, WEBHOOK_USER, impersonatingKubeconfig, installShippedSecurity } from '../support/shipped-security.js';
import { startController, startWebhook, type RunningController, type RunningWebhook } from '../support/webhook-process.js';
import type { Lab } from './lab.js';

export interface LabImageLocality {
  webhook: RunningWebhook;
  controller: RunningController;
  /** Both processes' output, for a failure report. */
  output(): string;
  kill(): Promise<void>;
}

/** Needs the installation namespace (image-locality) to exist. */
export async function startLabImageLocality(lab: Lab): Promise<LabImageLocality> {
  await installShippedSecurity(lab.kc, { helperImage: lab.images.helper.ref });
  const webhook = await startWebhook({ kubeconfigPath: await impersonatingKubeconfig(lab.kubeconfigPath, WEBHOOK_USER) });
  let controller: RunningController | undefined;
  try {
    controller = await startController({
      kubeconfigPath: await impersonatingKubeconfig(lab.kubeconfigPath, CONTROLLER_USER),
      env: {
        // Pre-pull pods run the exit binary from the lab's own helper image.
        IMAGE_LOCALITY_HELPER_IMAGE: lab.images.helper.ref,
        IMAGE_LOCALITY_LEASE_SECONDS: '4',
        IMAGE_LOCALITY_RENEW_SECONDS: '3',
        IMAGE_LOCALITY_RETRY_SECONDS: '0.5',
        POD_NAME: 'lab-controller',
      },
    });
    await webhook.waitReady(60_000);
    await controller.waitReady(60_000);
    await lab.bridge.expose(webhook.port);
    await registerWebhook(lab.kc, renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle }));
  } catch (err) {
    await webhook.kill();
    await controller?.kill();
    throw err;
  }
  const running = controller;
  return {
    webhook,
    controller: running,
    output: () => `${webhook.output()}\n${running.output()}`,
    async kill() {
      await webhook.kill().catch(() => undefined);
      await running.kill().catch(() => undefined);
    },
  };
}
