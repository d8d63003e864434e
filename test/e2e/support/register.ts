import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { repoRoot } from '../control-plane/control-plane.js';

/**
 * The shipped manifest (webhook-config/mutating-webhook.yaml) rendered for a webhook
 * running on this machine: the Service reference becomes a URL on 127.0.0.1, and
 * the caBundle is the one `image-locality certs` printed. Everything else (failure
 * policy, timeout, side effects, reinvocation, namespace selector) is as shipped.
 */
export function renderLocalWebhookConfiguration(options: {
  port: number;
  caBundle: string;
  name?: string;
  ownNamespace?: string;
  timeoutSeconds?: number;
}): V1MutatingWebhookConfiguration {
  const text = readFileSync(join(repoRoot(), 'webhook-config', 'mutating-webhook.yaml'), 'utf8');
  const config = parse(text) as V1MutatingWebhookConfiguration;
  if (options.name) config.metadata = { ...config.metadata, name: options.name };
  for (const webhook of config.webhooks ?? []) {
    webhook.clientConfig = { url: `https://127.0.0.1:${options.port}/mutate`, caBundle: options.caBundle };
    if (options.timeoutSeconds !== undefined) webhook.timeoutSeconds = options.timeoutSeconds;
    const own = options.ownNamespace;
    if (own) {
      for (const expr of webhook.namespaceSelector?.matchExpressions ?? []) {
        if (expr.key === 'kubernetes.io/metadata.name' && expr.operator === 'NotIn') {
          expr.values = ['kube-system', own];
        }
      }
    }
  }
  return config;
}

export async function registerWebhook(kc: KubeConfig, config: V1MutatingWebhookConfiguration): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const name = config.metadata?.name ?? 'image-locality';
  try {
    await api.deleteMutatingWebhookConfiguration({ name });
  } catch {
    // Not there yet.
  }
  await api.createMutatingWebhookConfiguration({ body: config });
}

export async function unregisterWebhook(kc: KubeConfig, name = 'image-locality'): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  try {
    await api.deleteMutatingWebhookConfiguration({ name });
  } catch {
    // Already gone.
  }
}
