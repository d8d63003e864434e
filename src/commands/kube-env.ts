/**
 * What `serve` and `controller` both read from their environment: whether a
 * cluster is reachable by configuration, and the leader-election timings.
 */
import { existsSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ApiConnection } from '../cluster/api-connection.js';
import { connectionFromEnvironment } from '../cluster/kubeconfig-connection.js';
import { log } from '../log.js';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** In a pod, or a kubeconfig in KUBECONFIG or ~/.kube/config. */
export function clusterConfigAvailable(): boolean {
  return (
    Boolean(process.env['KUBERNETES_SERVICE_HOST']) ||
    Boolean(process.env['KUBECONFIG']) ||
    existsSync(join(homedir(), '.kube', 'config'))
  );
}

/**
 * The generated client's KubeConfig, loaded on demand: importing the package loads
 * every API and model class into the process, which only the programs that call its
 * APIs should pay for.
 */
export async function loadKubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/**
 * A connection for list and watch: read by the project's own loader when the
 * configuration is in-cluster or a plain kubeconfig, else the client's KubeConfig.
 */
export async function loadClusterConnection(env: NodeJS.ProcessEnv = process.env): Promise<ApiConnection> {
  const source = await connectionFromEnvironment(env);
  if ('connection' in source) return source.connection;
  log.info({ reason: source.unsupported }, 'cluster configuration needs the full Kubernetes client; loading it');
  return loadKubeConfig();
}

export interface LeaseTimings {
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
}

/**
 * Lease timings can be shortened for tests and small clusters
 * (IMAGE_LOCALITY_LEASE_SECONDS, _RENEW_SECONDS, _RETRY_SECONDS); defaults follow
 * Kubernetes' own components (15 s, 10 s, 2 s).
 */
export function leaseTimingsFromEnv(env: NodeJS.ProcessEnv = process.env): LeaseTimings {
  const read = (name: string) => {
    const value = Number(env[name]);
    return Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const lease = read('IMAGE_LOCALITY_LEASE_SECONDS');
  const renew = read('IMAGE_LOCALITY_RENEW_SECONDS');
  const retry = read('IMAGE_LOCALITY_RETRY_SECONDS');
  return {
    ...(lease !== undefined ? { leaseDurationSeconds: lease } : {}),
    ...(renew !== undefined ? { renewDeadlineSeconds: renew } : {}),
    ...(retry !== undefined ? { retryPeriodSeconds: retry } : {}),
  };
}

export interface WarmTimings {
  resyncMs?: number;
  demandTtlMs?: number;
  /** How much later than a warm record a node status must be to disprove it. */
  statusLagMs?: number;
}

/**
 * Warming timings, in seconds in the environment: IMAGE_LOCALITY_RESYNC_SECONDS
 * (how often the controller makes a full pass although nothing changed; default
 * 300) and IMAGE_LOCALITY_DEMAND_TTL_SECONDS (a demand cache no stored pod asked
 * for this long is deleted; default 3600) and IMAGE_LOCALITY_NODE_STATUS_LAG_SECONDS
 * (how much later than a warm record a node status must be computed to disprove
 * it; default 60, see record-verdict.ts). Invalid values are ignored, as for the
 * lease timings.
 */
export function warmTimingsFromEnv(env: NodeJS.ProcessEnv = process.env): WarmTimings {
  const seconds = (name: string) => {
    const value = Number(env[name]);
    return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
  };
  const resyncMs = seconds('IMAGE_LOCALITY_RESYNC_SECONDS');
  const demandTtlMs = seconds('IMAGE_LOCALITY_DEMAND_TTL_SECONDS');
  const statusLagMs = seconds('IMAGE_LOCALITY_NODE_STATUS_LAG_SECONDS');
  return {
    ...(resyncMs !== undefined ? { resyncMs } : {}),
    ...(demandTtlMs !== undefined ? { demandTtlMs } : {}),
    ...(statusLagMs !== undefined ? { statusLagMs } : {}),
  };
}
