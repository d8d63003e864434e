import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, loadYaml, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { repoRoot } from '../control-plane/control-plane.js';
import { eventually } from './cluster-objects.js';

/**
 * The shipped CRD, read with client-node's loadYaml: the typed client serializes
 * through its model's attribute map, and a plain YAML parse would lose the
 * x-kubernetes-* extensions (CEL rules, list types) on the way to the server.
 */
export function loadImageCacheCrd(): V1CustomResourceDefinition {
  return loadYaml<V1CustomResourceDefinition>(readFileSync(join(repoRoot(), 'webhook-config', 'imagecache-crd.yaml'), 'utf8'));
}

/** Apply webhook-config/imagecache-crd.yaml and wait until the API server serves it. */
export async function applyImageCacheCrd(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crd = loadImageCacheCrd();
  await api.createCustomResourceDefinition({ body: crd });
  await eventually('the ImageCache CRD to be established', async () => {
    const current = await api.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  }, 30_000);
}
