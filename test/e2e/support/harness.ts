// One end-to-end environment per test file: a real control plane, the real
// `image-locality serve` process watching it, and the shipped webhook
// registration pointing the apiserver at that process.
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.js';
import { createPod, eventually } from './cluster-objects.js';
import { registerWebhook, renderLocalWebhookConfiguration, unregisterWebhook } from './register.js';
import { shippedIdentityKubeconfig, type ShippedIdentity } from './service-account.js';
import { removeDir, startWebhook, type RunningWebhook } from './webhook-process.js';

export const INJECTED = 'image-locality.dev/injected';
export const POLICY_NAMESPACE = 'image-locality';
export const POLICY_CONFIGMAP = 'image-locality-policy';

export interface E2E {
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  webhook: RunningWebhook;
  /** The ServiceAccount identity the webhook runs under (shipped RBAC, TokenRequest token). */
  identity: ShippedIdentity;
  /** Name of the MutatingWebhookConfiguration registered from the shipped manifest. */
  registration: string;
}

const sinceStart = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/**
 * Control plane, the shipped RBAC and a token for the shipped ServiceAccount,
 * then the webhook under that identity (ready = every watch listed once), then the
 * registration rendered from webhook-config/mutating-webhook.yaml. Whatever was
 * started is stopped again when a later step fails.
 */
export async function startE2E(label: string): Promise<E2E> {
  const t0 = Date.now();
  const cp = await startControlPlane();
  let webhook: RunningWebhook | undefined;
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const identity = await shippedIdentityKubeconfig(cp.kubeconfigPath);
    webhook = await startWebhook({ kubeconfigPath: identity.path });
    await webhook.waitReady(60_000);
    const config = renderLocalWebhookConfiguration({ port: webhook.port, caBundle: webhook.caBundle });
    await registerWebhook(kc, config);
    console.log(`      [${label}] control plane + webhook (port ${webhook.port}, as ${identity.username}) ready after ${sinceStart(t0)}`);
    return { cp, kc, core, webhook, identity, registration: config.metadata?.name ?? 'image-locality' };
  } catch (err) {
    if (webhook) {
      console.error(tail(webhook.output()));
      await webhook.kill().catch(() => undefined);
      await removeDir(webhook.certDir).catch(() => undefined);
    }
    await cp.stop();
    throw err;
  }
}

/** Stops whatever startE2E started; safe to call with a partial environment. */
export async function stopE2E(env: E2E | undefined): Promise<void> {
  if (!env) return;
  await unregisterWebhook(env.kc, env.registration).catch(() => undefined);
  await env.webhook.stop().catch(() => undefined);
  await removeDir(env.webhook.certDir).catch(() => undefined);
  await env.cp.stop();
}

/** The last lines of the webhook's output, for failure diagnosis. */
export function tail(output: string, lines = 60): string {
  const all = output.trimEnd().split('\n');
  return `----- webhook output (last ${Math.min(lines, all.length)} of ${all.length} lines) -----\n${all.slice(-lines).join('\n')}\n-----`;
}

/** For `afterEach`: print the webhook's log tail when the test that just ran failed. */
export function printTailOnFailure(ctx: Mocha.Context, env: () => E2E | undefined): void {
  const e = env();
  if (ctx.currentTest?.state === 'failed' && e) console.error(tail(e.webhook.output()));
}

/**
 * For `before`: run the setup steps after startE2E, printing the webhook's log tail
 * when one fails (afterEach does not run when a hook fails).
 */
export async function setUp(env: E2E, steps: () => Promise<void>): Promise<void> {
  try {
    await steps();
  } catch (err) {
    console.error(tail(env.webhook.output()));
    throw err;
  }
}

/** JSON round trip: drops undefined-valued keys the client's model classes carry, and class prototypes. */
export function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/** Node names of injected preferred terms (`matchFields metadata.name In [node]`), in order. */
export function preferredNodeNames(pod: V1Pod): string[] {
  const terms = pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  return terms.flatMap((t) =>
    (t.preference?.matchFields ?? [])
      .filter((f) => f.key === 'metadata.name' && f.operator === 'In')
      .flatMap((f) => f.values ?? []),
  );
}

/** Weights of the injected preferred terms by node name. */
export function preferredWeights(pod: V1Pod): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    for (const f of t.preference?.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In') for (const v of f.values ?? []) out[v] = t.weight;
    }
  }
  return out;
}

/** Node names pinned by `matchFields metadata.name` in required terms. */
export function requiredNodeNames(pod: V1Pod): string[] {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.flatMap((t) =>
    (t.matchFields ?? []).filter((f) => f.key === 'metadata.name' && f.operator === 'In').flatMap((f) => f.values ?? []),
  );
}

export function injectionAnnotation(pod: V1Pod): string | undefined {
  return pod.metadata?.annotations?.[INJECTED];
}

let probeCounter = 0;
/** A dry-run create of a one-container pod: what the webhook does to a pod right now, without side effects. */
export async function probe(kc: KubeConfig, namespace: string, image: string, extra: Partial<V1Pod['spec']> = {}): Promise<V1Pod> {
  probeCounter += 1;
  return createPod(
    kc,
    {
      metadata: { name: `probe-${process.pid}-${probeCounter}`, namespace },
      spec: { containers: [{ name: 'c', image }], ...extra },
    },
    true,
  );
}

/**
 * Wait until the webhook mutates pods in `namespace` (it learns namespaces and
 * nodes through watches): dry-run pods with `image` until one comes back injected.
 */
export async function waitUntilInjecting(
  kc: KubeConfig,
  namespace: string,
  image: string,
  extra: Partial<V1Pod['spec']> = {},
  timeoutMs = 20_000,
): Promise<V1Pod> {
  return eventually(
    `the webhook to inject into dry-run pods in namespace ${namespace}`,
    async () => {
      const pod = await probe(kc, namespace, image, extra);
      return injectionAnnotation(pod) !== undefined ? pod : undefined;
    },
    timeoutMs,
    100,
  );
}

/** Create or replace the policy ConfigMap (creating the webhook's namespace when needed). */
export async function setPolicy(core: CoreV1Api, policyYaml: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name: POLICY_NAMESPACE } } });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 409) throw err;
  }
  const body: V1ConfigMap = {
    metadata: { name: POLICY_CONFIGMAP, namespace: POLICY_NAMESPACE },
    data: { 'policy.yaml': policyYaml },
  };
  try {
    await core.replaceNamespacedConfigMap({ name: POLICY_CONFIGMAP, namespace: POLICY_NAMESPACE, body });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await core.createNamespacedConfigMap({ namespace: POLICY_NAMESPACE, body });
  }
}

export async function deletePolicy(core: CoreV1Api): Promise<void> {
  try {
    await core.deleteNamespacedConfigMap({ name: POLICY_CONFIGMAP, namespace: POLICY_NAMESPACE });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** GET a path of the webhook over HTTPS, verified with the CA `image-locality certs` wrote. */
export function webhookGet(webhook: RunningWebhook, path: string): Promise<{ status: number; body: string }> {
  const ca = readFileSync(join(webhook.certDir, 'ca.crt'));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: webhook.port, path, ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Value of one sample in Prometheus text, e.g. metricValue(text, 'x_total', { result: 'invalid' }); undefined if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** The fields of the product's JSON log lines that tests look at. */
export interface LogLine {
  msg?: string;
  name?: string;
  namespace?: string;
  reason?: string;
  image?: string;
  dryRun?: boolean;
}

/** The JSON log lines in a process's output (other lines are skipped). */
export function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}
