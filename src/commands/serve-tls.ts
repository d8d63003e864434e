/**
 * `serve --tls-secret NAME`: flags and defaults for self-managed certificates
 * (src/tls/self-managed.ts). Validated like policy fields: a bad value names the
 * flag and the accepted range, and serve exits 2.
 */
import type { ApiConnection } from '../cluster/api-connection.js';
import { serviceDnsNames } from '../tls/certificates.js';
import type { RotationPolicy } from '../tls/rotation.js';
import type { SelfManagedCertificates } from '../tls/self-managed.js';

const DAY_S = 86_400;
export const DEFAULT_CERT_VALIDITY_SECONDS = 90 * DAY_S;
export const DEFAULT_CA_VALIDITY_SECONDS = 5 * 365 * DAY_S;
/** Renew a certificate when a third of its lifetime is left. */
export const RENEW_WHEN_REMAINING = 1 / 3;
/** Between CA rotation steps: several rounds, so every replica has caught up. */
export const DEFAULT_ROTATION_STEP_SECONDS = 300;
export const DEFAULT_CERT_CHECK_SECONDS = 60;

export const SERVE_TLS_OPTIONS = {
  'tls-secret': { type: 'string' },
  'webhook-configuration': { type: 'string', default: 'image-locality' },
  service: { type: 'string', default: 'image-locality' },
  'cert-dns': { type: 'string', multiple: true },
  'cert-ip': { type: 'string', multiple: true },
  'cert-validity-seconds': { type: 'string', default: String(DEFAULT_CERT_VALIDITY_SECONDS) },
  'ca-validity-seconds': { type: 'string', default: String(DEFAULT_CA_VALIDITY_SECONDS) },
  'ca-rotation-step-seconds': { type: 'string', default: String(DEFAULT_ROTATION_STEP_SECONDS) },
  'cert-check-seconds': { type: 'string', default: String(DEFAULT_CERT_CHECK_SECONDS) },
} as const;

export const SERVE_TLS_USAGE = `Self-managed certificates (in a cluster; instead of mounting a Secret):
  --tls-secret NAME    Create or reuse a CA and serving certificate in this Secret
                       (own namespace), publish them into --cert-dir (writable),
                       renew them before expiry, and keep the caBundle of
                       --webhook-configuration equal to the Secret's CA bundle
  --webhook-configuration NAME  MutatingWebhookConfiguration to keep (default
                       image-locality; "" for none)
  --service NAME       Service whose DNS names the certificate carries (default image-locality)
  --cert-dns NAME, --cert-ip ADDR   Extra names (repeatable)
  --cert-validity-seconds N     Serving certificate lifetime (default ${DEFAULT_CERT_VALIDITY_SECONDS}, 90 days)
  --ca-validity-seconds N       CA lifetime (default ${DEFAULT_CA_VALIDITY_SECONDS}, 5 years)
  --ca-rotation-step-seconds N  Least time between CA rotation steps (default ${DEFAULT_ROTATION_STEP_SECONDS})
  --cert-check-seconds N        Time between checks (default ${DEFAULT_CERT_CHECK_SECONDS})
`;

export interface ServeTlsValues {
  'tls-secret'?: string | undefined;
  'webhook-configuration'?: string | undefined;
  service?: string | undefined;
  'cert-dns'?: string[] | undefined;
  'cert-ip'?: string[] | undefined;
  'cert-validity-seconds'?: string | undefined;
  'ca-validity-seconds'?: string | undefined;
  'ca-rotation-step-seconds'?: string | undefined;
  'cert-check-seconds'?: string | undefined;
}

export type SelfManagedSetup = { ok: true; options: Omit<ConstructorParameters<typeof SelfManagedCertificates>[0], 'kc' | 'onPublished'> } | { ok: false; error: string };

function seconds(values: ServeTlsValues, flag: keyof typeof SERVE_TLS_OPTIONS & keyof ServeTlsValues, min: number, max: number): number | string {
  const raw = values[flag];
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min || n > max) {
    return `--${flag} must be a whole number of seconds from ${min} to ${max}, not "${String(raw)}"`;
  }
  return n;
}

/** Options for SelfManagedCertificates from the flags, or the first problem found. */
export function selfManagedSetup(values: ServeTlsValues, namespace: string, certDir: string): SelfManagedSetup {
  const secretName = values['tls-secret'] ?? '';
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(secretName)) return { ok: false, error: `--tls-secret "${secretName}" is not a valid Secret name` };
  const leaf = seconds(values, 'cert-validity-seconds', 10, 3650 * DAY_S);
  const ca = seconds(values, 'ca-validity-seconds', 30, 36500 * DAY_S);
  const step = seconds(values, 'ca-rotation-step-seconds', 1, 30 * DAY_S);
  const check = seconds(values, 'cert-check-seconds', 1, DAY_S);
  for (const v of [leaf, ca, step, check]) if (typeof v === 'string') return { ok: false, error: v };
  const [leafS, caS, stepS, checkS] = [leaf, ca, step, check] as number[];
  if (caS! < 3 * leafS!) return { ok: false, error: '--ca-validity-seconds must be at least three times --cert-validity-seconds (the CA rotates with a third of its life left)' };
  if (stepS! < 2 * checkS!) return { ok: false, error: '--ca-rotation-step-seconds must be at least twice --cert-check-seconds (every replica must see a step before the next)' };
  const service = values.service ?? 'image-locality';
  const policy: RotationPolicy = {
    caValidityMs: caS! * 1000,
    leafValidityMs: leafS! * 1000,
    renewWhenRemaining: RENEW_WHEN_REMAINING,
    stepDelayMs: stepS! * 1000,
    dnsNames: [...new Set([...serviceDnsNames(service, namespace), ...(values['cert-dns'] ?? [])])],
    ipAddresses: [...new Set(values['cert-ip'] ?? [])],
  };
  const webhook = values['webhook-configuration'];
  return {
    ok: true,
    options: {
      namespace,
      secretName,
      ...(webhook ? { webhookConfigurationName: webhook } : {}),
      certDir,
      policy,
      intervalMs: checkS! * 1000,
    },
  };
}

export async function startSelfManaged(
  kc: ApiConnection,
  setup: Extract<SelfManagedSetup, { ok: true }>['options'],
  onPublished: () => Promise<void>,
): Promise<SelfManagedCertificates> {
  // Loaded only with --tls-secret: serve without it has no use for certificate issuing.
  const { SelfManagedCertificates } = await import('../tls/self-managed.js');
  return new SelfManagedCertificates({ ...setup, kc, onPublished });
}
