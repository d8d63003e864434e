/**
 * The Secret that holds self-managed certificates, as data keys any tool reads:
 * `tls.crt`/`tls.key` (the serving pair, as in a kubernetes.io/tls Secret),
 * `ca.crt` (the bundle clients trust, as cert-manager names it), the signing CA as
 * `ca-signing.crt`/`ca-signing.key`, and during a CA rotation the incoming one as
 * `ca-next.crt`/`ca-next.key`. The rotation phase and its start are annotations.
 * Pure: decoding never throws; a Secret that does not decode reads as "nothing stored".
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { RotationPhase, StoredCertificates } from './rotation.js';

export const PHASE_ANNOTATION = 'image-locality.dev/ca-rotation-phase';
export const PHASE_SINCE_ANNOTATION = 'image-locality.dev/ca-rotation-phase-since';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'image-locality';

const PHASES: readonly RotationPhase[] = ['stable', 'adding-ca', 'serving-new-ca'];

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function text(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  if (typeof value !== 'string' || value === '') return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

export type DecodedSecret = { ok: true; stored: StoredCertificates } | { ok: false; reason: string };

export function decodeCertificateSecret(secret: V1Secret | undefined): DecodedSecret {
  if (!secret) return { ok: false, reason: 'no Secret' };
  const data = secret.data;
  const caCert = text(data, 'ca-signing.crt');
  const caKey = text(data, 'ca-signing.key');
  const bundle = text(data, 'ca.crt');
  const tlsCert = text(data, 'tls.crt');
  const tlsKey = text(data, 'tls.key');
  if (!caCert || !caKey || !bundle || !tlsCert || !tlsKey) {
    return { ok: false, reason: 'the Secret lacks one of ca-signing.crt, ca-signing.key, ca.crt, tls.crt, tls.key' };
  }
  const annotations = secret.metadata?.annotations ?? {};
  const phase = annotations[PHASE_ANNOTATION] as RotationPhase | undefined;
  const since = Date.parse(annotations[PHASE_SINCE_ANNOTATION] ?? '');
  const nextCert = text(data, 'ca-next.crt');
  const nextKey = text(data, 'ca-next.key');
  const stored: StoredCertificates = {
    ca: { certPem: caCert, keyPem: caKey },
    bundlePem: bundle,
    leaf: { certPem: tlsCert, keyPem: tlsKey },
    phase: phase && PHASES.includes(phase) ? phase : 'stable',
    phaseSince: Number.isFinite(since) ? since : 0,
    ...(nextCert && nextKey ? { nextCa: { certPem: nextCert, keyPem: nextKey } } : {}),
  };
  return { ok: true, stored };
}

/**
 * The Secret for `stored`, keeping the identity and resourceVersion of `base` so that
 * a replace is refused (409) when another replica wrote first.
 */
export function encodeCertificateSecret(stored: StoredCertificates, name: string, namespace: string, base?: V1Secret): V1Secret {
  const data: Record<string, string> = {
    'tls.crt': b64(stored.leaf.certPem),
    'tls.key': b64(stored.leaf.keyPem),
    'ca.crt': b64(stored.bundlePem),
    'ca-signing.crt': b64(stored.ca.certPem),
    'ca-signing.key': b64(stored.ca.keyPem),
  };
  if (stored.nextCa) {
    data['ca-next.crt'] = b64(stored.nextCa.certPem);
    data['ca-next.key'] = b64(stored.nextCa.keyPem);
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      ...(base?.metadata ?? {}),
      name,
      namespace,
      labels: { ...(base?.metadata?.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: {
        ...(base?.metadata?.annotations ?? {}),
        [PHASE_ANNOTATION]: stored.phase,
        [PHASE_SINCE_ANNOTATION]: new Date(stored.phaseSince).toISOString(),
      },
    },
    data,
  };
}
