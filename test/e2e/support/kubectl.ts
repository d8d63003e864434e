/**
 * kubectl v1.36.3 as built by control-plane/build.sh, run against a test control
 * plane's kubeconfig. Returns stdout, or throws with the command and its stderr.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { controlPlaneBinDir, type ControlPlane } from '../control-plane/control-plane.js';

export function kubectlPath(): string {
  return join(controlPlaneBinDir(), 'kubectl');
}

export function kubectl(kubeconfigPath: string, args: string[], input?: string): string {
  const result = spawnSync(kubectlPath(), ['--kubeconfig', kubeconfigPath, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    ...(input !== undefined ? { input } : {}),
    env: { ...process.env, KUBECONFIG: kubeconfigPath },
  });
  if (result.error) throw new Error(`kubectl ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}

/**
 * A kubeconfig that authenticates as a ServiceAccount (a token from the
 * TokenRequest API), so a process runs with exactly the rights the shipped RBAC
 * gives that account, as it would in its pod.
 */
export async function serviceAccountKubeconfig(cp: ControlPlane, admin: KubeConfig, namespace: string, name: string, dir: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`no token issued for ${namespace}/${name}`);
  const path = join(dir, `kubeconfig-${namespace}-${name}`);
  const cluster = { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') };
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster }],
      users: [{ name, user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: name, namespace } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return path;
}
