// Self-managed certificate planning (src/tls/rotation.ts) with real certificates
// from node-forge; time moves by passing a later `now`, since a certificate's own
// dates are fixed when it is made.
import { X509Certificate } from 'node:crypto';
import { expect } from 'chai';
import { serviceDnsNames } from '../../src/tls/certificates.js';
import { decodeCertificateSecret, encodeCertificateSecret } from '../../src/tls/cert-secret.js';
import { applyStep, nextStep, splitPemBundle, type RotationPolicy, type StoredCertificates } from '../../src/tls/rotation.js';
import { forgeIssuer } from '../../src/tls/self-managed.js';

const HOUR = 3_600_000;
const policy: RotationPolicy = {
  caValidityMs: 300 * HOUR,
  leafValidityMs: 30 * HOUR,
  renewWhenRemaining: 1 / 3,
  stepDelayMs: HOUR,
  dnsNames: serviceDnsNames('image-locality', 'image-locality'),
  ipAddresses: ['127.0.0.1'],
};
const issuer = forgeIssuer('image-locality', 'image-locality');

function verifies(leafPem: string, bundlePem: string): boolean {
  const leaf = new X509Certificate(leafPem);
  return splitPemBundle(bundlePem).some((ca) => leaf.verify(new X509Certificate(ca).publicKey));
}

describe('self-managed certificate rotation (pure planner)', function () {
  this.timeout(20_000);
  const t0 = Date.now();
  let fresh: StoredCertificates;

  before(() => {
    const step = nextStep(undefined, t0, policy);
    expect(step.kind).to.equal('create');
    fresh = applyStep(undefined, step, t0, policy, issuer);
  });

  it('creates a CA and a leaf it signed, with the service names and extra IPs, trusted by a one-CA bundle', () => {
    expect(fresh.phase).to.equal('stable');
    expect(splitPemBundle(fresh.bundlePem)).to.have.length(1);
    expect(verifies(fresh.leaf.certPem, fresh.bundlePem)).to.equal(true);
    const san = new X509Certificate(fresh.leaf.certPem).subjectAltName ?? '';
    expect(san).to.contain('DNS:image-locality.image-locality.svc').and.to.contain('IP Address:127.0.0.1');
  });

  it('keeps a fresh state', () => {
    expect(nextStep(fresh, t0 + HOUR, policy).kind).to.equal('keep');
  });

  it('renews the leaf from the same CA once less than a third of its life is left, leaving the bundle alone', () => {
    const at = t0 + 21 * HOUR;
    const step = nextStep(fresh, at, policy);
    expect(step.kind).to.equal('renew-leaf');
    const renewed = applyStep(fresh, step, at, policy, issuer);
    expect(renewed.bundlePem).to.equal(fresh.bundlePem);
    expect(renewed.leaf.certPem).to.not.equal(fresh.leaf.certPem);
    expect(verifies(renewed.leaf.certPem, fresh.bundlePem)).to.equal(true);
  });

  it('reissues the leaf when the wanted names change', () => {
    expect(nextStep(fresh, t0 + HOUR, { ...policy, ipAddresses: ['127.0.0.2'] }).kind).to.equal('renew-leaf');
  });

  it('remakes everything when the stored key does not belong to its certificate, or the CA expired', () => {
    const other = applyStep(undefined, { kind: 'create', reason: 'test' }, t0, policy, issuer);
    expect(nextStep({ ...fresh, leaf: { ...fresh.leaf, keyPem: other.leaf.keyPem } }, t0, policy).kind).to.equal('create');
    expect(nextStep(fresh, t0 + 301 * HOUR, policy).kind).to.equal('create');
  });

  describe('CA rotation in two steps', () => {
    // The apiserver (webhook caBundle) and the replicas (served leaf) lag by up to
    // one step; at every transition both the old and the new leaf must verify
    // against both the old and the new bundle.
    const states: StoredCertificates[] = [];
    let at = t0 + 201 * HOUR;

    before(() => {
      let s = fresh;
      // Leaves keep being renewed in the meantime; start from a leaf fresh at `at`.
      s = applyStep(s, { kind: 'renew-leaf', reason: 'test' }, at, policy, issuer);
      states.push(s);
      const step1 = nextStep(s, at, policy);
      expect(step1.kind).to.equal('add-next-ca');
      s = applyStep(s, step1, at, policy, issuer);
      states.push(s);

      expect(nextStep(s, at + HOUR / 2, policy, { webhookBundlePem: s.bundlePem }).kind, 'before the step delay').to.equal('wait');
      expect(nextStep(s, at + 2 * HOUR, policy, { webhookBundlePem: states[0]!.bundlePem }).kind, 'apiserver lacks the new CA').to.equal('wait');
      expect(nextStep(s, at + 2 * HOUR, policy, {}).kind, 'webhook configuration unreadable').to.equal('wait');
      at += 2 * HOUR;
      const step2 = nextStep(s, at, policy, { webhookBundlePem: s.bundlePem });
      expect(step2.kind).to.equal('serve-from-next-ca');
      s = applyStep(s, step2, at, policy, issuer);
      states.push(s);

      expect(nextStep(s, at + HOUR / 2, policy, { webhookBundlePem: s.bundlePem }).kind).to.equal('wait');
      at += 2 * HOUR;
      const step3 = nextStep(s, at, policy, { webhookBundlePem: s.bundlePem });
      expect(step3.kind).to.equal('drop-old-ca');
      s = applyStep(s, step3, at, policy, issuer);
      states.push(s);
    });

    it('goes stable -> adding-ca -> serving-new-ca -> stable, ending with one new CA', () => {
      expect(states.map((s) => s.phase)).to.deep.equal(['stable', 'adding-ca', 'serving-new-ca', 'stable']);
      const first = splitPemBundle(states[0]!.bundlePem);
      const last = splitPemBundle(states[3]!.bundlePem);
      expect(last).to.have.length(1);
      expect(last[0]).to.not.equal(first[0]);
      expect(nextStep(states[3]!, at, policy).kind).to.equal('keep');
    });

    it('never leaves a leaf that an apiserver one step behind, or ahead, cannot verify', () => {
      for (let i = 1; i < states.length; i++) {
        const [before, after] = [states[i - 1]!, states[i]!];
        expect(verifies(after.leaf.certPem, before.bundlePem), `new leaf vs old bundle at step ${i}`).to.equal(true);
        expect(verifies(before.leaf.certPem, after.bundlePem), `old leaf vs new bundle at step ${i}`).to.equal(true);
        expect(verifies(after.leaf.certPem, after.bundlePem), `new leaf vs new bundle at step ${i}`).to.equal(true);
      }
    });
  });

  it('round-trips through the Secret, keeping resourceVersion for optimistic concurrency', () => {
    const withNext = applyStep(fresh, { kind: 'add-next-ca', reason: 'test' }, t0, policy, issuer);
    const secret = encodeCertificateSecret(withNext, 'image-locality-tls', 'image-locality', { metadata: { name: 'image-locality-tls', resourceVersion: '42' } });
    expect(secret.metadata?.resourceVersion).to.equal('42');
    expect(secret.type).to.equal('kubernetes.io/tls');
    const decoded = decodeCertificateSecret(secret);
    expect(decoded.ok && decoded.stored).to.deep.equal({ ...withNext, phaseSince: new Date(withNext.phaseSince).getTime() });
  });

  it('reads a Secret with missing or unreadable keys as nothing stored, without throwing', () => {
    expect(decodeCertificateSecret(undefined).ok).to.equal(false);
    expect(decodeCertificateSecret({ data: { 'tls.crt': 'bm90IGEgY2VydA==' } }).ok).to.equal(false);
    const garbage = decodeCertificateSecret({
      data: Object.fromEntries(['ca-signing.crt', 'ca-signing.key', 'ca.crt', 'tls.crt', 'tls.key'].map((k) => [k, 'eA=='])),
    });
    expect(garbage.ok).to.equal(true);
    expect(nextStep(garbage.ok ? garbage.stored : undefined, t0, policy).kind).to.equal('create');
  });
});
