import { readFileSync } from 'node:fs';

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
export const DEFAULT_NAMESPACE = 'image-locality';

/**
 * The webhook's own namespace holds its policy and is never mutated. Inside a
 * cluster the service account mount says which it is; POD_NAMESPACE (downward API)
 * or --namespace override it.
 */
export function resolveOwnNamespace(flag: string | undefined): string {
  if (flag) return flag;
  const fromEnv = process.env['POD_NAMESPACE'];
  if (fromEnv) return fromEnv;
  try {
    const fromMount = readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim();
    if (fromMount) return fromMount;
  } catch {
    // Not running in a pod.
  }
  return DEFAULT_NAMESPACE;
}
