import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import forge from 'node-forge';
import {
  CertificateInputError,
  createCertificateAuthority,
  createServingCertificate,
  ipToBinaryString,
  type CertificateAuthority,
  type ServingCertificate,
} from '../../src/tls/certificates.js';
import { runCertsCommand } from '../../src/tls/certs-command.js';
import { writeCertificates } from '../../src/tls/write-certs.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').filter((s) => s.length > 0);
}

function forgeExtension(pem: string, name: string): Record<string, unknown> {
  const ext = forge.pki.certificateFromPem(pem).getExtension(name) as Record<string, unknown> | undefined;
  expect(ext, `extension ${name}`).to.not.equal(undefined);
  return ext as Record<string, unknown>;
}

function capture(): { io: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
    },
    out: () => out,
    err: () => err,
  };
}

describe('tls/certificates', function () {
  this.timeout(30_000);

  let ca: CertificateAuthority;
  let serving: ServingCertificate;
  let caX509: X509Certificate;
  let leaf: X509Certificate;

  before(() => {
    ca = createCertificateAuthority();
    serving = createServingCertificate(ca, {
      service: 'image-locality',
      namespace: 'webhooks',
      dnsNames: ['localhost', 'webhook.example.com'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::10', '::ffff:10.1.2.3'],
    });
    caX509 = new X509Certificate(ca.certPem);
    leaf = new X509Certificate(serving.certPem);
  });

  describe('certificate authority', () => {
    it('is a self-signed CA with a proper subject', () => {
      expect(caX509.ca).to.equal(true);
      expect(caX509.subject.split('\n')).to.have.members(['CN=image-locality-ca', 'O=image-locality']);
      expect(caX509.issuer).to.equal(caX509.subject);
      expect(caX509.verify(caX509.publicKey)).to.equal(true);
    });

    it('has critical basicConstraints CA:true and keyUsage keyCertSign + cRLSign', () => {
      const bc = forgeExtension(ca.certPem, 'basicConstraints');
      expect(bc['cA']).to.equal(true);
      expect(bc['critical']).to.equal(true);
      const ku = forgeExtension(ca.certPem, 'keyUsage');
      expect(ku['keyCertSign']).to.equal(true);
      expect(ku['cRLSign']).to.equal(true);
      expect(ku['digitalSignature']).to.equal(false);
    });

    it('uses RSA 2048, SHA-256 and a matching private key', () => {
      expect(caX509.publicKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
      expect(forge.pki.certificateFromPem(ca.certPem).signatureOid).to.equal(forge.pki.oids['sha256WithRSAEncryption']);
      expect(caX509.checkPrivateKey(createPrivateKey(ca.keyPem))).to.equal(true);
    });

    it('honours commonName and validityDays', () => {
      const other = new X509Certificate(createCertificateAuthority({ commonName: 'my-ca', validityDays: 10 }).certPem);
      expect(other.subject).to.contain('CN=my-ca');
      const days = (Date.parse(other.validTo) - Date.now()) / 86_400_000;
      expect(days).to.be.within(9.9, 10.1);
    });

    it('rejects nonsense validity', () => {
      expect(() => createCertificateAuthority({ validityDays: 0 })).to.throw(CertificateInputError);
      expect(() => createCertificateAuthority({ validityDays: 1.5 })).to.throw(CertificateInputError);
    });
  });

  describe('serving certificate', () => {
    it('is signed by the CA (chain verifies, AKI matches the CA SKI)', () => {
      expect(leaf.verify(caX509.publicKey)).to.equal(true);
      expect(leaf.checkIssued(caX509)).to.equal(true);
      expect(leaf.issuer).to.equal(caX509.subject);
      // A different CA with the very same name did not issue it: the AKI tells them apart.
      const impostor = new X509Certificate(createCertificateAuthority().certPem);
      expect(impostor.subject).to.equal(caX509.subject);
      expect(leaf.checkIssued(impostor)).to.equal(false);
      expect(leaf.verify(impostor.publicKey)).to.equal(false);
    });

    it('has subject CN=<service>.<namespace>.svc, O=image-locality', () => {
      expect(leaf.subject.split('\n')).to.have.members(['CN=image-locality.webhooks.svc', 'O=image-locality']);
    });

    it('carries the four service names plus the given DNS names and IPs as SANs', () => {
      expect(sans(leaf)).to.have.members([
        'DNS:image-locality.webhooks.svc',
        'DNS:image-locality.webhooks.svc.cluster.local',
        'DNS:image-locality',
        'DNS:image-locality.webhooks',
        'DNS:localhost',
        'DNS:webhook.example.com',
        'IP Address:127.0.0.1',
        'IP Address:0:0:0:0:0:0:0:1',
        'IP Address:2001:DB8:0:0:0:0:0:10',
        'IP Address:0:0:0:0:0:FFFF:A01:203',
      ]);
      expect(leaf.checkHost('image-locality.webhooks.svc')).to.equal('image-locality.webhooks.svc');
      expect(leaf.checkHost('localhost')).to.equal('localhost');
      expect(leaf.checkHost('other.example.com')).to.equal(undefined);
      expect(leaf.checkIP('127.0.0.1')).to.equal('127.0.0.1');
      expect(leaf.checkIP('::1')).to.equal('::1');
      expect(leaf.checkIP('2001:db8::10')).to.equal('2001:db8::10');
      expect(leaf.checkIP('10.0.0.1')).to.equal(undefined);
    });

    it('is a leaf for server authentication only', () => {
      expect(leaf.ca).to.equal(false);
      expect(leaf.keyUsage).to.deep.equal([SERVER_AUTH]);
      const bc = forgeExtension(serving.certPem, 'basicConstraints');
      expect(bc['cA']).to.equal(false);
      const ku = forgeExtension(serving.certPem, 'keyUsage');
      expect(ku['digitalSignature']).to.equal(true);
      expect(ku['keyEncipherment']).to.equal(true);
      expect(ku['keyCertSign']).to.equal(false);
      forgeExtension(serving.certPem, 'subjectKeyIdentifier');
      forgeExtension(serving.certPem, 'authorityKeyIdentifier');
    });

    it('uses a matching RSA 2048 key and SHA-256', () => {
      expect(leaf.checkPrivateKey(createPrivateKey(serving.keyPem))).to.equal(true);
      expect(leaf.checkPrivateKey(createPrivateKey(ca.keyPem))).to.equal(false);
      expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
      expect(forge.pki.certificateFromPem(serving.certPem).signatureOid).to.equal(forge.pki.oids['sha256WithRSAEncryption']);
      expect(serving.caPem).to.equal(ca.certPem);
    });

    it('has random positive 128-bit serial numbers', () => {
      const serials = [leaf.serialNumber, caX509.serialNumber];
      for (const serial of serials) {
        expect(serial).to.match(/^[0-9A-F]{32}$/);
        expect(Number.parseInt(serial.slice(0, 1), 16)).to.be.at.least(8); // top bit of 128 set, DER sign byte 0
      }
      expect(serials[0]).to.not.equal(serials[1]);
    });

    it('never outlives its CA', () => {
      const shortCa = createCertificateAuthority({ validityDays: 2 });
      const cert = new X509Certificate(
        createServingCertificate(shortCa, { service: 's', namespace: 'n', validityDays: 365 }).certPem,
      );
      expect(Date.parse(cert.validTo)).to.be.at.most(Date.parse(new X509Certificate(shortCa.certPem).validTo));
    });

    it('rejects bad IPs, bad names and a key that does not belong to the CA', () => {
      expect(() => createServingCertificate(ca, { service: 's', namespace: 'n', ipAddresses: ['300.1.1.1'] })).to.throw(
        CertificateInputError,
        /not a valid IPv4 or IPv6/,
      );
      expect(() => createServingCertificate(ca, { service: 'Bad_Name', namespace: 'n' })).to.throw(CertificateInputError);
      expect(() => createServingCertificate(ca, { service: 's', namespace: 'n', dnsNames: ['a b'] })).to.throw(CertificateInputError);
      const other = createCertificateAuthority();
      expect(() => createServingCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { service: 's', namespace: 'n' })).to.throw(
        CertificateInputError,
        /does not belong/,
      );
    });

    it('encodes IPv4 and IPv6 addresses in network order', () => {
      const hex = (ip: string): string => Buffer.from(ipToBinaryString(ip), 'latin1').toString('hex');
      expect(hex('10.1.2.3')).to.equal('0a010203');
      expect(hex('::1')).to.equal('00000000000000000000000000000001');
      expect(hex('2001:db8::ff00:42:8329')).to.equal('20010db8000000000000ff0000428329');
      expect(hex('fe80::')).to.equal('fe800000000000000000000000000000');
      expect(hex('::ffff:192.0.2.1')).to.equal('00000000000000000000ffffc0000201');
      expect(hex('1:2:3:4:5:6:7:8')).to.equal('00010002000300040005000600070008');
    });
  });

  describe('writeCertificates + runCertsCommand', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'image-locality-tls-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes ca.crt 0644, tls.crt 0644, tls.key 0600 into a new directory and returns the caBundle', async () => {
      const out = join(dir, 'nested', 'certs');
      const caBundle = await writeCertificates(out, { service: 'svc', namespace: 'ns', ipAddresses: ['127.0.0.1'] });
      const mode = async (f: string): Promise<number> => (await stat(join(out, f))).mode & 0o777;
      expect(await mode('ca.crt')).to.equal(0o644);
      expect(await mode('tls.crt')).to.equal(0o644);
      expect(await mode('tls.key')).to.equal(0o600);
      const caPem = await readFile(join(out, 'ca.crt'), 'utf8');
      expect(caBundle).to.equal(Buffer.from(caPem).toString('base64'));
      const written = new X509Certificate(await readFile(join(out, 'tls.crt')));
      expect(written.verify(new X509Certificate(caPem).publicKey)).to.equal(true);
      expect(written.checkPrivateKey(createPrivateKey(await readFile(join(out, 'tls.key'))))).to.equal(true);
    });

    it('tightens the key mode when overwriting a world-readable tls.key', async () => {
      await writeFile(join(dir, 'tls.key'), 'old');
      await chmod(join(dir, 'tls.key'), 0o666);
      await writeCertificates(dir, { service: 'svc', namespace: 'ns' });
      expect((await stat(join(dir, 'tls.key'))).mode & 0o777).to.equal(0o600);
    });

    it('certs command: prints the files and the caBundle as the last line', async () => {
      const c = capture();
      const code = await runCertsCommand(
        ['--out', dir, '--service', 'hook', '--namespace', 'infra', '--dns', 'localhost', '--ip', '127.0.0.1', '--ip', '::1', '--days', '30'],
        c.io,
      );
      expect(code, c.err()).to.equal(0);
      const lines = c.out().trimEnd().split('\n');
      const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
      expect(lines.at(-1)).to.equal(Buffer.from(caPem).toString('base64'));
      expect(c.out()).to.contain(join(dir, 'tls.key'));
      const cert = new X509Certificate(await readFile(join(dir, 'tls.crt')));
      expect(sans(cert)).to.include.members(['DNS:hook.infra.svc', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1']);
      const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
      expect(days).to.be.within(29.9, 30.1);
    });

    const usageErrors: Array<[string, string[], RegExp]> = [
      ['a bad --ip', ['--ip', '300.1.1.1'], /--ip "300\.1\.1\.1" is not a valid IPv4 or IPv6 address/],
      ['a hostname given to --ip', ['--ip', 'localhost'], /not a valid IPv4 or IPv6/],
      ['an unknown flag', ['--bogus'], /Unknown option '--bogus'/],
      ['a positional argument', ['extra'], /positional/i],
      ['a flag without its value', ['--out'], /--out/],
      ['--days that is not a number', ['--days', 'ten'], /--days must be a whole number/],
      ['--days 0', ['--days', '0'], /--days must be a whole number/],
      ['a bad --service', ['--service', 'Not_A_Name'], /--service "Not_A_Name" is not a valid Service name/],
      ['a bad --namespace', ['--namespace', 'UPPER'], /--namespace "UPPER" is not a valid namespace/],
      ['a bad --dns', ['--dns', 'bad name'], /--dns "bad name" is not a valid DNS name/],
    ];
    for (const [what, args, message] of usageErrors) {
      it(`certs command: exit 2 with a clear message for ${what}`, async () => {
        const c = capture();
        const code = await runCertsCommand(['--out', join(dir, 'never'), ...args], c.io);
        expect(code).to.equal(2);
        expect(c.err()).to.match(message);
        expect(c.out()).to.equal('');
        await stat(join(dir, 'never')).then(
          () => expect.fail('nothing may be written on bad usage'),
          () => undefined,
        );
      });
    }

    it('certs command: --help prints usage and exits 0', async () => {
      const c = capture();
      expect(await runCertsCommand(['--help'], c.io)).to.equal(0);
      expect(c.out()).to.contain('Usage: image-locality certs');
    });

    it('certs command: exit 1 when the directory cannot be written', async () => {
      const file = join(dir, 'a-file');
      await writeFile(file, 'x');
      const c = capture();
      expect(await runCertsCommand(['--out', join(file, 'sub')], c.io)).to.equal(1);
      expect(c.err()).to.contain('cannot write certificates');
    });
  });
});
