/**
 * Self-managed certificates: what to do next with the CA and serving certificate
 * kept in one Secret. Pure: time, the stored state and what the apiserver trusts
 * go in; a step and the next state come out (key generation is passed in).
 *
 * A leaf is renewed from the same CA, which every client already trusts, so that
 * needs no coordination. The CA itself is rotated in two steps so that no replica
 * ever serves a leaf the apiserver cannot verify (with failurePolicy Ignore, such
 * a gap would silently admit pods unmutated):
 *
 *   stable          bundle [A]     leaf from A
 *   adding-ca       bundle [A, B]  leaf from A   (B waits until the webhook configuration
 *                                                  trusts it and a step delay has passed)
 *   serving-new-ca  bundle [A, B]  leaf from B   (old leaves still verify; after a step
 *                                                  delay every replica has reloaded)
 *   stable          bundle [B]     leaf from B
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';

export type RotationPhase = 'stable' | 'adding-ca' | 'serving-new-ca';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** What the Secret holds. */
export interface StoredCertificates {
  /** The CA that signs leaves now. */
  ca: KeyPairPem;
  /** The CA being introduced (phase adding-ca only). */
  nextCa?: KeyPairPem;
  /** PEM certificates the apiserver should trust (the webhook's caBundle). */
  bundlePem: string;
  leaf: KeyPairPem;
  phase: RotationPhase;
  /** When the phase began (ms since the epoch). */
  phaseSince: number;
}

export interface RotationPolicy {
  /** At least three times leafValidityMs, so a CA rotation begins before leaves are cut short by their CA. */
  caValidityMs: number;
  leafValidityMs: number;
  /** Renew when less than this share of a certificate's lifetime is left (e.g. 1/3). */
  renewWhenRemaining: number;
  /** Least time between CA rotation steps: replicas and the apiserver must catch up. */
  stepDelayMs: number;
  /** Names the leaf must carry (DNS first, then IPs), as they are compared. */
  dnsNames: string[];
  ipAddresses: string[];
}

export type RotationStep =
  | { kind: 'keep' }
  | { kind: 'wait'; reason: string }
  | { kind: 'create'; reason: string }
  | { kind: 'renew-leaf'; reason: string }
  | { kind: 'add-next-ca'; reason: string }
  | { kind: 'serve-from-next-ca' }
  | { kind: 'drop-old-ca' };

/** Makes keys and certificates (node-forge in production; the same in tests). */
export interface Issuer {
  createCa(validityMs: number, now: number): KeyPairPem;
  createLeaf(ca: KeyPairPem, validityMs: number, dnsNames: string[], ipAddresses: string[], now: number): KeyPairPem;
}

/** What the apiserver currently trusts for this webhook, when known. */
export interface Observed {
  /** caBundle of the webhook configuration (PEM), undefined when it cannot be read. */
  webhookBundlePem?: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPemBundle(bundle: string): string[] {
  return bundle.match(PEM_BLOCK) ?? [];
}

function fingerprints(bundle: string): Set<string> {
  const out = new Set<string>();
  for (const pem of splitPemBundle(bundle)) {
    try {
      out.add(new X509Certificate(pem).fingerprint256);
    } catch {
      // An unreadable entry trusts nothing.
    }
  }
  return out;
}

function trusts(bundle: string | undefined, caPem: string): boolean {
  if (bundle === undefined) return false;
  try {
    return fingerprints(bundle).has(new X509Certificate(caPem).fingerprint256);
  } catch {
    return false;
  }
}

/**
 * Renewal is due when less than a share of the policy's lifetime is left. Measured
 * against the policy, not notBefore..notAfter: certificates are back-dated for
 * clock skew, which would make a short lifetime look longer than it is.
 */
function renewalDue(cert: X509Certificate, lifetimeMs: number, share: number, now: number): boolean {
  return Date.parse(cert.validTo) - now < lifetimeMs * share;
}

function sortedNames(cert: X509Certificate): string {
  const names = (cert.subjectAltName ?? '').split(', ').filter(Boolean).sort();
  return names.join(',');
}

function wantedNames(policy: RotationPolicy): string {
  return [...policy.dnsNames.map((n) => `DNS:${n}`), ...policy.ipAddresses.map((ip) => `IP Address:${ip}`)].sort().join(',');
}

function keyMatches(pair: KeyPairPem, cert: X509Certificate): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(pair.keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = cert.publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(fromKey, fromCert) === 0;
  } catch {
    return false;
  }
}

/** Why the stored state cannot be used at all (so everything is made anew), or undefined. */
export function unusable(stored: StoredCertificates, now: number): string | undefined {
  let ca: X509Certificate;
  let leaf: X509Certificate;
  try {
    ca = new X509Certificate(stored.ca.certPem);
    leaf = new X509Certificate(stored.leaf.certPem);
  } catch (err) {
    return `unreadable certificate: ${(err as Error).message}`;
  }
  if (!keyMatches(stored.ca, ca)) return 'the CA key does not belong to the CA certificate';
  if (Date.parse(ca.validTo) <= now) return `the CA expired at ${ca.validTo}`;
  if (!trusts(stored.bundlePem, stored.ca.certPem)) return 'the CA bundle does not hold the signing CA';
  if (!keyMatches(stored.leaf, leaf)) return 'the serving key does not belong to the serving certificate';
  if (stored.nextCa) {
    try {
      if (!keyMatches(stored.nextCa, new X509Certificate(stored.nextCa.certPem))) return 'the next CA key does not belong to its certificate';
    } catch (err) {
      return `unreadable next CA: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Why the leaf must be reissued from the current CA, or undefined. */
function leafProblem(stored: StoredCertificates, now: number, policy: RotationPolicy): string | undefined {
  const leaf = new X509Certificate(stored.leaf.certPem);
  const ca = new X509Certificate(stored.ca.certPem);
  if (!leaf.verify(ca.publicKey)) return 'the serving certificate was not signed by the current CA';
  if (Date.parse(leaf.validTo) <= now) return `the serving certificate expired at ${leaf.validTo}`;
  // A leaf already ending with its CA cannot be made to last longer: the CA rotation handles it.
  const cappedByCa = Date.parse(leaf.validTo) >= Date.parse(ca.validTo) - 1000;
  if (!cappedByCa && renewalDue(leaf, policy.leafValidityMs, policy.renewWhenRemaining, now)) return `the serving certificate expires at ${leaf.validTo}`;
  if (sortedNames(leaf) !== wantedNames(policy)) return `the serving certificate names ${leaf.subjectAltName ?? 'nothing'}`;
  return undefined;
}

export function nextStep(stored: StoredCertificates | undefined, now: number, policy: RotationPolicy, observed: Observed = {}): RotationStep {
  if (!stored) return { kind: 'create', reason: 'no certificates stored yet' };
  const broken = unusable(stored, now);
  if (broken) return { kind: 'create', reason: broken };
  const leaf = leafProblem(stored, now, policy);
  const inPhaseFor = now - stored.phaseSince;

  switch (stored.phase) {
    case 'adding-ca': {
      if (!stored.nextCa) return { kind: 'create', reason: 'phase adding-ca without a next CA' };
      if (inPhaseFor >= policy.stepDelayMs && trusts(observed.webhookBundlePem, stored.nextCa.certPem)) {
        return { kind: 'serve-from-next-ca' };
      }
      // The current CA is still trusted everywhere: a leaf from it is always safe.
      if (leaf) return { kind: 'renew-leaf', reason: leaf };
      return { kind: 'wait', reason: 'the new CA must be in the webhook configuration for a step delay before leaves come from it' };
    }
    case 'serving-new-ca': {
      if (leaf) return { kind: 'renew-leaf', reason: leaf };
      if (inPhaseFor >= policy.stepDelayMs) return { kind: 'drop-old-ca' };
      return { kind: 'wait', reason: 'replicas are reloading the leaf from the new CA' };
    }
    case 'stable': {
      const ca = new X509Certificate(stored.ca.certPem);
      if (renewalDue(ca, policy.caValidityMs, policy.renewWhenRemaining, now)) return { kind: 'add-next-ca', reason: `the CA expires at ${ca.validTo}` };
      if (leaf) return { kind: 'renew-leaf', reason: leaf };
      return { kind: 'keep' };
    }
  }
}

/** The state after `step`; unchanged for keep and wait. */
export function applyStep(stored: StoredCertificates | undefined, step: RotationStep, now: number, policy: RotationPolicy, issuer: Issuer): StoredCertificates {
  const leafFrom = (ca: KeyPairPem) => issuer.createLeaf(ca, policy.leafValidityMs, policy.dnsNames, policy.ipAddresses, now);
  if (step.kind === 'create' || !stored) {
    const ca = issuer.createCa(policy.caValidityMs, now);
    return { ca, bundlePem: joinPem([ca.certPem]), leaf: leafFrom(ca), phase: 'stable', phaseSince: now };
  }
  switch (step.kind) {
    case 'keep':
    case 'wait':
      return stored;
    case 'renew-leaf':
      return { ...stored, leaf: leafFrom(stored.ca) };
    case 'add-next-ca': {
      const nextCa = issuer.createCa(policy.caValidityMs, now);
      return { ...stored, nextCa, bundlePem: joinPem([stored.ca.certPem, nextCa.certPem]), phase: 'adding-ca', phaseSince: now };
    }
    case 'serve-from-next-ca': {
      const ca = stored.nextCa ?? stored.ca;
      const { nextCa: _dropped, ...rest } = stored;
      return { ...rest, ca, leaf: leafFrom(ca), phase: 'serving-new-ca', phaseSince: now };
    }
    case 'drop-old-ca':
      return { ...stored, bundlePem: joinPem([stored.ca.certPem]), phase: 'stable', phaseSince: now };
  }
}

export function joinPem(certs: string[]): string {
  return certs.map((c) => c.trim()).join('\n') + '\n';
}
