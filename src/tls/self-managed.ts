/**
 * Self-managed certificates for `serve --tls-secret`: every replica runs this loop.
 * Each round reads the Secret and the webhook configuration, lets the pure planner
 * (rotation.ts) decide, writes the Secret back with its resourceVersion (so when
 * two replicas decide at once, one wins with 409 for the other, which reads again
 * and adopts the winner's certificate), publishes the serving pair into the
 * server's certificate directory, and keeps every webhook's caBundle equal to the
 * Secret's bundle (repairing an apply that blanked it).
 *
 * Errors are logged with what was being done and retried next round; the server
 * keeps serving the last good pair meanwhile.
 */
import type { V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import { ApiClient } from '../cluster/api-client.js';
import type { ApiConnection } from '../cluster/api-connection.js';
import { admissionCalls, coreCalls, type AdmissionCalls, type CoreCalls } from '../cluster/kube-calls.js';
import { log } from '../log.js';
import { createCertificateAuthority, createServingCertificate } from './certificates.js';
import { decodeCertificateSecret, encodeCertificateSecret } from './cert-secret.js';
import { applyStep, nextStep, type Issuer, type RotationPolicy, type RotationStep, type StoredCertificates } from './rotation.js';
import { publishServingPair } from './serving-dir.js';

export interface SelfManagedOptions {
  kc: ApiConnection;
  namespace: string;
  secretName: string;
  /** MutatingWebhookConfiguration whose caBundle this keeps; none: the Secret only. */
  webhookConfigurationName?: string;
  /** Where tls.crt/tls.key are published for the server (writable). */
  certDir: string;
  policy: RotationPolicy;
  /** Time between rounds. */
  intervalMs: number;
  /** Default: forgeIssuer for the Service named by the first DNS name. */
  issuer?: Issuer;
  now?: () => number;
  /** Called after a new serving pair was published (reload the server now). */
  onPublished?: () => void | Promise<void>;
}

export type RoundResult =
  | { ok: true; step: RotationStep['kind']; wroteSecret: boolean; published: boolean; injected: boolean }
  | { ok: false; stage: 'read' | 'write' | 'publish' | 'inject'; conflict: boolean; error: string };

const MAX_CONFLICT_RETRIES = 5;
const log_ = log.child({ component: 'certificates' });

/** Keys and certificates from node-forge, for the given Service (its four DNS names are added). */
export function forgeIssuer(service: string, namespace: string): Issuer {
  return {
    createCa: (validityMs, now) => createCertificateAuthority({ validityMs, now }),
    createLeaf: (ca, validityMs, dnsNames, ipAddresses, now) => {
      const leaf = createServingCertificate(ca, { service, namespace, dnsNames, ipAddresses, validityMs, now });
      return { certPem: leaf.certPem, keyPem: leaf.keyPem };
    },
  };
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? '');
  const message = /"message":"([^"]*)"/.exec(body)?.[1];
  return `${typeof e.code === 'number' ? `${e.code} ` : ''}${message ?? String(e.message ?? err)}`.slice(0, 300);
}

const b64 = (pem: string) => Buffer.from(pem, 'utf8').toString('base64');

export class SelfManagedCertificates {
  private readonly core: CoreCalls;
  private readonly admission: AdmissionCalls;
  private readonly issuer: Issuer;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RoundResult> | undefined;
  private stopped = false;
  private current: StoredCertificates | undefined;

  constructor(private readonly options: SelfManagedOptions) {
    const api = new ApiClient(options.kc);
    this.core = coreCalls(api);
    this.admission = admissionCalls(api);
    const [service = 'image-locality', namespace = options.namespace] = (options.policy.dnsNames[0] ?? '').split('.');
    this.issuer = options.issuer ?? forgeIssuer(service, namespace);
    this.now = options.now ?? Date.now;
  }

  /** The state last read or written. */
  stored(): StoredCertificates | undefined {
    return this.current;
  }

  /**
   * Rounds until one succeeds (a pair is published), retrying every `retryMs`;
   * the server cannot start without a certificate.
   */
  async initialize(retryMs = 2000, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const result = await this.round();
      if (result.ok) return;
      if (signal?.aborted) throw new Error(`certificates not ready: ${result.error}`);
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.round().finally(() => {
          if (!this.stopped) tick();
        });
      }, this.options.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round, retried at once on a write conflict (another replica wrote first). */
  round(): Promise<RoundResult> {
    this.running ??= (async () => {
      let result: RoundResult = { ok: false, stage: 'read', conflict: false, error: 'not run' };
      for (let attempt = 0; attempt <= MAX_CONFLICT_RETRIES; attempt++) {
        result = await this.roundOnce();
        if (result.ok || !result.conflict) break;
      }
      if (!result.ok) log_.warn({ stage: result.stage, error: result.error, secret: this.options.secretName }, 'certificate round failed; retrying next round');
      return result;
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async roundOnce(): Promise<RoundResult> {
    const { namespace, secretName, webhookConfigurationName, policy } = this.options;
    let secret: V1Secret | undefined;
    let webhook: V1MutatingWebhookConfiguration | undefined;
    try {
      secret = await this.core.readNamespacedSecret({ name: secretName, namespace }).catch((err: unknown) => {
        if (statusOf(err) === 404) return undefined;
        throw err;
      });
      if (webhookConfigurationName) {
        webhook = await this.admission.readMutatingWebhookConfiguration({ name: webhookConfigurationName }).catch((err: unknown) => {
          if (statusOf(err) === 404) return undefined;
          throw err;
        });
      }
    } catch (err) {
      return { ok: false, stage: 'read', conflict: false, error: describe(err) };
    }

    const decoded = decodeCertificateSecret(secret);
    const now = this.now();
    const observed = webhook ? { webhookBundlePem: this.bundleOf(webhook) } : {};
    const step = nextStep(decoded.ok ? decoded.stored : undefined, now, policy, observed);
    let stored = decoded.ok ? decoded.stored : undefined;
    let wroteSecret = false;
    if (step.kind !== 'keep' && step.kind !== 'wait') {
      const next = applyStep(stored, step, now, policy, this.issuer);
      const body = encodeCertificateSecret(next, secretName, namespace, secret);
      try {
        if (secret) await this.core.replaceNamespacedSecret({ name: secretName, namespace, body });
        else await this.core.createNamespacedSecret({ namespace, body });
      } catch (err) {
        const status = statusOf(err);
        return { ok: false, stage: 'write', conflict: status === 409 || status === 422 && !secret, error: describe(err) };
      }
      wroteSecret = true;
      stored = next;
      log_.info({ step: step.kind, reason: 'reason' in step ? step.reason : undefined, secret: secretName, phase: next.phase }, 'certificates updated');
    }
    if (!stored) return { ok: false, stage: 'read', conflict: false, error: decoded.ok ? 'nothing stored' : decoded.reason };
    this.current = stored;

    let published = false;
    try {
      published = await publishServingPair(this.options.certDir, stored.leaf.certPem, stored.leaf.keyPem);
      if (published) await this.options.onPublished?.();
    } catch (err) {
      return { ok: false, stage: 'publish', conflict: false, error: `${this.options.certDir}: ${(err as Error).message}` };
    }

    let injected = false;
    if (webhook) {
      try {
        injected = await this.inject(webhook, stored.bundlePem);
      } catch (err) {
        return { ok: false, stage: 'inject', conflict: statusOf(err) === 409, error: describe(err) };
      }
    }
    return { ok: true, step: step.kind, wroteSecret, published, injected };
  }

  /** The bundle the apiserver uses: every webhook's, and only when they all agree. */
  private bundleOf(config: V1MutatingWebhookConfiguration): string | undefined {
    const bundles = new Set((config.webhooks ?? []).map((w) => w.clientConfig?.caBundle ?? ''));
    if (bundles.size !== 1) return undefined;
    const [only] = [...bundles];
    return only ? Buffer.from(only, 'base64').toString('utf8') : undefined;
  }

  private async inject(config: V1MutatingWebhookConfiguration, bundlePem: string): Promise<boolean> {
    const want = b64(bundlePem);
    const webhooks = config.webhooks ?? [];
    if (webhooks.every((w) => w.clientConfig?.caBundle === want)) return false;
    const body: V1MutatingWebhookConfiguration = {
      ...config,
      webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: want } })),
    };
    // Replace carries the resourceVersion read this round: a concurrent change wins and we retry.
    await this.admission.replaceMutatingWebhookConfiguration({ name: config.metadata?.name ?? '', body });
    log_.info({ webhookConfiguration: config.metadata?.name, cas: bundlePem.split('BEGIN CERTIFICATE').length - 1 }, 'caBundle written');
    return true;
  }
}
