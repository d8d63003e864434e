// The product's own identity on the test control plane: the shipped RBAC
// (webhook-config/rbac.yaml, every object in it, as written) applied to the real
// apiserver, and a kubeconfig holding a token for the ServiceAccount that the
// shipped Deployment runs under, issued by the TokenRequest API. A process started
// with that kubeconfig has exactly the permissions the manifests grant: a missing
// rule shows up as a 403 in the test, an unused one is at least visible in the file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../control-plane/control-plane.js';

const FIELD_MANAGER = 'image-locality-e2e';

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

function manifest(file: string): KubernetesObject[] {
  const text = readFileSync(join(repoRoot(), 'webhook-config', file), 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && typeof o === 'object' && typeof o.kind === 'string');
}

/**
 * Server-side apply of every object in the given webhook-config files, in order
 * (namespace.yaml first, so that the namespaced objects have a home). Idempotent.
 */
export async function applyManifests(kc: KubeConfig, files: string[]): Promise<KubernetesObject[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const applied: KubernetesObject[] = [];
  for (const file of files) {
    for (const object of manifest(file)) {
      await api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
      applied.push(object);
    }
  }
  return applied;
}

/** The ServiceAccount a shipped Deployment manifest runs its pods under. */
export function serviceAccountOf(deploymentFile = 'deployment.yaml'): ServiceAccountRef {
  const deployments = manifest(deploymentFile).filter((o) => o.kind === 'Deployment');
  if (deployments.length !== 1) throw new Error(`webhook-config/${deploymentFile}: expected one Deployment, found ${deployments.length}`);
  const deployment = deployments[0] as KubernetesObject & { spec?: { template?: { spec?: { serviceAccountName?: string } } } };
  const name = deployment.spec?.template?.spec?.serviceAccountName;
  const namespace = deployment.metadata?.namespace;
  if (!name || !namespace) throw new Error(`webhook-config/${deploymentFile}: the Deployment names no serviceAccountName or namespace`);
  return { namespace, name };
}

/**
 * Apply namespace.yaml and rbac.yaml, then write a kubeconfig for `account` (by
 * default the one deployment.yaml runs under) with a token from the TokenRequest
 * API, against the same server and CA as `adminKubeconfigPath`. Returns its path.
 */
export interface ShippedIdentity {
  /** kubeconfig file holding the ServiceAccount's token. */
  path: string;
  account: ServiceAccountRef;
  /** system:serviceaccount:NS:NAME */
  username: string;
}

export async function shippedIdentityKubeconfig(
  adminKubeconfigPath: string,
  account: ServiceAccountRef = serviceAccountOf(),
): Promise<ShippedIdentity> {
  const admin = new KubeConfig();
  admin.loadFromFile(adminKubeconfigPath);
  await applyManifests(admin, ['namespace.yaml', 'rbac.yaml']);
  const dir = mkdtempSync(join(adminKubeconfigPath, '..', `sa-${account.name}-`));
  // Long enough for the slowest e2e file; the control plane is thrown away after it.
  const path = await tokenKubeconfig(admin, account, dir, 6 * 3600);
  return { path, account, username: `system:serviceaccount:${account.namespace}:${account.name}` };
}

/**
 * Write `dir`/kubeconfig holding only a TokenRequest token for `account`, against
 * the server and CA of `admin`'s current cluster. Returns its path.
 */
export async function tokenKubeconfig(admin: KubeConfig, account: ServiceAccountRef, dir: string, expirationSeconds: number): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    namespace: account.namespace,
    name: account.name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ${account.namespace}/${account.name} returned no token`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const user = `system:serviceaccount:${account.namespace}:${account.name}`;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user, namespace: account.namespace } }],
    'current-context': 'e2e',
  };
  const path = join(dir, `kubeconfig-${account.namespace}-${account.name}`);
  writeFileSync(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  return path;
}
