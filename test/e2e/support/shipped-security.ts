// The shipped RBAC (webhook-config/rbac.yaml) and pre-pull fence
// (webhook-config/prepull-policy.yaml) on a real kube-apiserver, and clients that
// act as the service accounts they bind (kubeconfig `as:`, the Impersonate-User
// header), so tests exercise exactly what an installation grants.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject, type V1ValidatingAdmissionPolicy } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../control-plane/control-plane.js';

export const INSTALL_NAMESPACE = 'image-locality';
export const CONTROLLER_USER = `system:serviceaccount:${INSTALL_NAMESPACE}:image-locality-controller`;
export const WEBHOOK_USER = `system:serviceaccount:${INSTALL_NAMESPACE}:image-locality`;
export const PREPULL_POLICY = 'image-locality-prepull-pods';

function shipped(file: string): KubernetesObject[] {
  return loadAllYaml(readFileSync(join(repoRoot(), 'webhook-config', file), 'utf8')) as KubernetesObject[];
}

async function createAll(kc: KubeConfig, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    try {
      await api.create(object);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      await api.replace(object);
    }
  }
}

/**
 * Apply rbac.yaml and prepull-policy.yaml as shipped (the installation namespace
 * must exist). Only the policy's helperImage variable is set to the one the
 * test's controller uses, as kustomization.yaml sets it to the controller's image.
 */
export async function installShippedSecurity(kc: KubeConfig, options: { helperImage: string }): Promise<void> {
  await createAll(kc, shipped('rbac.yaml'));
  const policy = shipped('prepull-policy.yaml').map((o) => {
    if (o.kind !== 'ValidatingAdmissionPolicy') return o;
    const vap = o as V1ValidatingAdmissionPolicy;
    const variables = (vap.spec?.variables ?? []).map((v) => (v.name === 'helperImage' ? { ...v, expression: `'${options.helperImage}'` } : v));
    return { ...vap, spec: { ...vap.spec, variables } } as KubernetesObject;
  });
  await createAll(kc, policy);
}

/** A kubeconfig file like `adminKubeconfigPath` that acts as `user` (kubeconfig `as:`). */
export async function impersonatingKubeconfig(adminKubeconfigPath: string, user: string): Promise<string> {
  const config = parse(readFileSync(adminKubeconfigPath, 'utf8')) as { users: Array<{ user: Record<string, unknown> }> };
  for (const u of config.users) u.user['as'] = user;
  const dir = await mkdtemp(join(tmpdir(), 'image-locality-as-'));
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}

export function impersonatingClient(adminKubeconfigPath: string, user: string): Promise<KubeConfig> {
  return impersonatingKubeconfig(adminKubeconfigPath, user).then((file) => {
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    return kc;
  });
}
