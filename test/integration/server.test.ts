/**
 * The real HTTPS server on an ephemeral port, certificates made by the `certs`
 * subcommand, clients that verify the server against the generated CA.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { expect } from 'chai';
import { log } from '../../src/log.js';
import type { CertificateReloadEvent } from '../../src/server/cert-reloader.js';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/server/https-server.js';
import { shutdownOnSignals } from '../../src/server/signals.js';
import { FAIL_OPEN_WARNING, MAX_BODY_BYTES } from '../../src/server/mutate-handler.js';
import type { AdmissionEndpoint, AdmissionResult, Readiness } from '../../src/server/types.js';
import { createCertificateAuthority, createServingCertificate } from '../../src/tls/certificates.js';
import { runCertsCommand } from '../../src/tls/certs-command.js';

const HOST = '127.0.0.1';

// ---------------------------------------------------------------- helpers

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  reusedSocket: boolean;
}

interface Call {
  port: number;
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  /** Send the body as several writes (chunked transfer encoding, no Content-Length). */
  chunkSize?: number;
  agent?: Agent | false;
  ca?: Buffer[];
}

function call(c: Call): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const options: RequestOptions = {
      host: HOST,
      port: c.port,
      method: c.method ?? 'GET',
      path: c.path ?? '/',
      headers: c.headers ?? {},
      agent: c.agent ?? false,
      ca: c.ca ?? caPems,
    };
    let done = false;
    const req = httpsRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        done = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), reusedSocket: req.reusedSocket });
      });
      res.on('error', (err) => {
        if (!done) reject(err);
      });
    });
    // After an early answer (413) the server may cut the upload: that is not a failure of the call.
    req.on('error', (err) => {
      if (!done) reject(err);
    });
    const body = typeof c.body === 'string' ? Buffer.from(c.body) : c.body;
    if (body && c.chunkSize) {
      for (let i = 0; i < body.length; i += c.chunkSize) req.write(body.subarray(i, i + c.chunkSize));
      req.end();
    } else {
      req.end(body);
    }
  });
}

function json(reply: Reply): Record<string, unknown> {
  expect(reply.headers['content-type'], `content type of ${reply.text.slice(0, 200)}`).to.match(/^application\/json/);
  return JSON.parse(reply.text) as Record<string, unknown>;
}

function review(uid: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'default',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      ...extra,
    },
  };
}

function postReview(port: number, body: unknown, more: Partial<Call> = {}): Promise<Reply> {
  return call({
    port,
    method: 'POST',
    path: '/mutate',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    ...more,
  });
}

/** Poll until `check` returns something truthy; fail with `what` after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Serial number and protocol of the certificate a fresh TLS connection is served. */
function handshake(port: number, options: Partial<ConnectionOptions> = {}): Promise<{ serialNumber: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: HOST, port, ca: caPems, ...options }, () => {
      const cert = socket.getPeerX509Certificate();
      const protocol = socket.getProtocol() ?? '';
      socket.end();
      resolve({ serialNumber: cert?.serialNumber ?? '', protocol });
    });
    socket.on('error', reject);
  });
}

async function serialOf(certFile: string): Promise<string> {
  return new X509Certificate(await readFile(certFile)).serialNumber;
}

const quiet = { stdout: { write: () => true }, stderr: { write: (s: string) => process.stderr.write(s) } };

/** Lay out a directory the way the kubelet mounts a Secret: files behind a `..data` symlink swapped atomically. */
async function writeSecretVolume(dir: string, files: Record<string, string>): Promise<void> {
  const version = `..${Date.now()}_${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, version));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, version, name), content);
  await symlink(version, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    await symlink(join('..data', name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

function makePair(): { ca: string; cert: string; key: string; serialNumber: string } {
  const ca = createCertificateAuthority();
  const leaf = createServingCertificate(ca, { service: 'image-locality', namespace: 'test', dnsNames: ['localhost'], ipAddresses: [HOST] });
  return { ca: ca.certPem, cert: leaf.certPem, key: leaf.keyPem, serialNumber: new X509Certificate(leaf.certPem).serialNumber };
}

// ---------------------------------------------------------------- test doubles

/** Echoes the uid, as a real webhook that changes nothing would. */
class EchoEndpoint implements AdmissionEndpoint {
  calls = 0;
  lastContentType: string | undefined;
  review(body: Buffer, contentType: string | undefined): AdmissionResult {
    this.calls++;
    this.lastContentType = contentType;
    let parsed: { request?: { uid?: unknown } };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch (err) {
      return { status: 400, body: { code: 400, error: `malformed JSON: ${(err as Error).message}` } };
    }
    const uid = parsed.request?.uid;
    if (typeof uid !== 'string') return { status: 400, body: { code: 400, error: 'request.uid missing' } };
    return { status: 200, body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } } };
  }
}

class ThrowingEndpoint implements AdmissionEndpoint {
  calls = 0;
  review(): AdmissionResult {
    this.calls++;
    throw new Error('boom');
  }
}

class SwitchableReadiness implements Readiness {
  isReady = true;
  why = 'image index not synced yet';
  ready(): boolean {
    return this.isReady;
  }
  reason(): string {
    return this.why;
  }
}

// ---------------------------------------------------------------- suite

let workDir: string;
let certDir: string;
let caPems: Buffer[];
let certsStdout = '';
const running: RunningServer[] = [];

async function start(overrides: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  const srv = await startServer({
    port: 0,
    host: HOST,
    certDir,
    endpoint: new EchoEndpoint(),
    readiness: new SwitchableReadiness(),
    shutdownDelayMs: 0,
    shutdownTimeoutMs: 10_000,
    ...overrides,
  });
  running.push(srv);
  return srv;
}

describe('HTTPS server (integration)', function () {
  this.timeout(30_000);
  const savedLevel = log.level;

  before(async () => {
    log.level = process.env['LOG_LEVEL'] ?? 'silent';
    workDir = await mkdtemp(join(tmpdir(), 'image-locality-server-'));
    certDir = join(workDir, 'certs');
    const code = await runCertsCommand(['--out', certDir, '--ip', '127.0.0.1', '--dns', 'localhost'], {
      stdout: { write: (s: string) => ((certsStdout += s), true) },
      stderr: { write: (s: string) => process.stderr.write(s) },
    });
    expect(code).to.equal(0);
    caPems = [await readFile(join(certDir, 'ca.crt'))];
  });

  after(async () => {
    await Promise.all(running.map((s) => s.close()));
    await rm(workDir, { recursive: true, force: true });
    log.level = savedLevel;
  });

  it('the certs subcommand printed the caBundle as its last line', () => {
    const last = certsStdout.trimEnd().split('\n').at(-1);
    expect(last).to.equal(caPems[0]?.toString('base64'));
  });

  describe('POST /mutate', () => {
    let srv: RunningServer;
    let endpoint: EchoEndpoint;
    before(async () => {
      endpoint = new EchoEndpoint();
      srv = await start({ endpoint });
    });

    it('echoes the review uid from the endpoint, over TLS verified against the generated CA', async () => {
      const reply = await postReview(srv.port, review('uid-1'));
      expect(reply.status).to.equal(200);
      const body = json(reply);
      expect(body['kind']).to.equal('AdmissionReview');
      expect(body['response']).to.deep.equal({ uid: 'uid-1', allowed: true });
      expect(endpoint.lastContentType).to.equal('application/json');
    });

    it('accepts the query string the apiserver appends and a charset parameter', async () => {
      const reply = await postReview(srv.port, review('uid-2'), {
        path: '/mutate?timeout=10s',
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(reply.status).to.equal(200);
      expect((json(reply)['response'] as { uid: string }).uid).to.equal('uid-2');
    });

    it('passes a malformed-JSON verdict of the endpoint through as JSON', async () => {
      const reply = await postReview(srv.port, '{"apiVersion": "admission.k8s.io/v1", "request": {');
      expect(reply.status).to.equal(400);
      expect(json(reply)['error']).to.match(/malformed JSON/);
    });

    it('answers 415 with a JSON message for a wrong or missing content type, without calling the endpoint', async () => {
      const before = endpoint.calls;
      const wrong = await postReview(srv.port, review('uid-3'), { headers: { 'content-type': 'text/plain' } });
      expect(wrong.status).to.equal(415);
      expect(json(wrong)['error']).to.match(/Content-Type "text\/plain".*application\/json/);
      const missing = await postReview(srv.port, review('uid-3'), { headers: {} });
      expect(missing.status).to.equal(415);
      expect(json(missing)['error']).to.match(/missing Content-Type/);
      expect(endpoint.calls).to.equal(before);
    });

    it('answers 400 with a JSON message for an empty body', async () => {
      const reply = await postReview(srv.port, '');
      expect(reply.status).to.equal(400);
      expect(json(reply)['error']).to.match(/empty request body/);
    });

    it('accepts a body of exactly 7 MiB', async () => {
      const base = JSON.stringify(review('big', { object: { pad: '' } }));
      const body = base.replace('"pad":""', `"pad":"${'x'.repeat(MAX_BODY_BYTES - base.length)}"`);
      expect(Buffer.byteLength(body)).to.equal(MAX_BODY_BYTES);
      const reply = await postReview(srv.port, body, { chunkSize: 256 * 1024 });
      expect(reply.status).to.equal(200);
      expect((json(reply)['response'] as { uid: string }).uid).to.equal('big');
    });

    it('answers 413 to an 8 MiB body sent with Content-Length, and keeps serving', async () => {
      const before = endpoint.calls;
      const reply = await postReview(srv.port, Buffer.alloc(8 * 1024 * 1024, 0x20));
      expect(reply.status).to.equal(413);
      expect(json(reply)['error']).to.match(/exceeds the limit of 7340032 bytes/);
      expect(endpoint.calls).to.equal(before);
      expect((await postReview(srv.port, review('after-413'))).status).to.equal(200);
    });

    for (const mode of ['Content-Length', 'chunked'] as const) {
      it(`answers 413 to an 8 MiB ${mode} body on a keep-alive connection, closes it cleanly, and keeps serving`, async () => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: caPems });
        try {
          const before = endpoint.calls;
          const reply = await postReview(srv.port, Buffer.alloc(8 * 1024 * 1024, 0x20), {
            agent,
            ...(mode === 'chunked' ? { chunkSize: 64 * 1024 } : {}),
          });
          expect(reply.status).to.equal(413);
          expect(reply.headers['connection']).to.equal('close');
          expect(json(reply)['error']).to.match(/exceeds the limit/);
          expect(endpoint.calls).to.equal(before);
          // The agent must not be handed a connection the server is about to drop.
          for (const uid of ['after-413-a', 'after-413-b']) {
            const next = await postReview(srv.port, review(uid), { agent });
            expect(next.status).to.equal(200);
            expect((json(next)['response'] as { uid: string }).uid).to.equal(uid);
          }
        } finally {
          agent.destroy();
        }
      });
    }

    it('reuses keep-alive connections', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: caPems });
      try {
        expect((await postReview(srv.port, review('ka-1'), { agent })).reusedSocket).to.equal(false);
        expect((await postReview(srv.port, review('ka-2'), { agent })).reusedSocket).to.equal(true);
        expect(srv.server.keepAliveTimeout).to.be.greaterThan(90_000);
      } finally {
        agent.destroy();
      }
    });

    it('answers GET /mutate with 405 and unknown paths with a JSON 404', async () => {
      const get = await call({ port: srv.port, path: '/mutate' });
      expect(get.status).to.equal(405);
      expect(get.headers['allow']).to.equal('POST');
      const missing = await call({ port: srv.port, method: 'POST', path: '/validate', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(missing.status).to.equal(404);
      expect(json(missing)['error']).to.match(/no such endpoint: POST \/validate/);
    });
  });

  describe('fail open', () => {
    it('answers 200 allowed:true with a warning and the uid when the endpoint throws', async () => {
      const endpoint = new ThrowingEndpoint();
      const srv = await start({ endpoint });
      const reply = await postReview(srv.port, review('uid-fail'));
      expect(reply.status).to.equal(200);
      expect(endpoint.calls).to.equal(1);
      expect(json(reply)).to.deep.equal({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: 'uid-fail', allowed: true, warnings: [FAIL_OPEN_WARNING] },
      });
      // Not even JSON: still a well-formed AdmissionReview, just without a uid.
      const garbage = await postReview(srv.port, 'not json at all');
      expect(garbage.status).to.equal(200);
      expect(json(garbage)['response']).to.deep.equal({ uid: '', allowed: true, warnings: [FAIL_OPEN_WARNING] });
    });

    it('fails open when the endpoint returns something that cannot be sent', async () => {
      const bad: Array<() => AdmissionResult> = [
        () => ({ status: 200, body: { n: 1n } }), // BigInt: JSON.stringify throws
        () => ({ status: 0, body: {} }),
        () => undefined as unknown as AdmissionResult,
      ];
      for (const make of bad) {
        const srv = await start({ endpoint: { review: make } });
        const reply = await postReview(srv.port, review('uid-odd'));
        expect(reply.status).to.equal(200);
        expect(json(reply)['response']).to.deep.equal({ uid: 'uid-odd', allowed: true, warnings: [FAIL_OPEN_WARNING] });
        await srv.close();
      }
    });
  });

  describe('health, readiness, metrics', () => {
    let srv: RunningServer;
    const readiness = new SwitchableReadiness();
    before(async () => {
      srv = await start({ readiness });
    });

    it('GET /healthz answers 200 ok', async () => {
      const reply = await call({ port: srv.port, path: '/healthz' });
      expect(reply.status).to.equal(200);
      expect(reply.text).to.equal('ok');
    });

    it('GET /readyz follows the Readiness and explains itself as JSON', async () => {
      readiness.isReady = true;
      expect((await call({ port: srv.port, path: '/readyz' })).status).to.equal(200);
      readiness.isReady = false;
      const notReady = await call({ port: srv.port, path: '/readyz' });
      expect(notReady.status).to.equal(503);
      expect(json(notReady)).to.deep.equal({ ready: false, reason: 'image index not synced yet' });
      readiness.isReady = true;
    });

    it('GET /metrics serves Prometheus text with the webhook and process metrics', async () => {
      const counter = async (): Promise<number> => {
        const text = (await call({ port: srv.port, path: '/metrics' })).text;
        const line = text.split('\n').find((l) => l.startsWith('image_locality_http_requests_total{path="/mutate",code="200"}'));
        return line ? Number(line.split(' ').at(-1)) : 0;
      };
      const before = await counter();
      expect((await postReview(srv.port, review('metrics'))).status).to.equal(200);
      expect(await counter()).to.equal(before + 1);

      const reply = await call({ port: srv.port, path: '/metrics' });
      expect(reply.status).to.equal(200);
      expect(reply.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      for (const name of [
        'image_locality_admission_duration_seconds',
        'image_locality_mutations_total{outcome="rejected_input"}',
        'image_locality_policy_reloads_total',
        'image_locality_index_images',
        'image_locality_index_nodes',
        'image_locality_http_requests_total{path="/healthz",code="200"}',
        'image_locality_serving_certificate_expiry_timestamp_seconds',
        'process_cpu_user_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]) {
        expect(reply.text, name).to.contain(name);
      }
    });
  });

  describe('TLS', () => {
    let srv: RunningServer;
    before(async () => {
      srv = await start();
    });

    // The client is allowed to speak old protocols (SECLEVEL=0) so that the refusal is the server's.
    const legacy = { ciphers: 'DEFAULT@SECLEVEL=0' };

    it('refuses a TLS 1.1 client', async () => {
      const err = await handshake(srv.port, { ...legacy, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }).then(
        () => expect.fail('TLS 1.1 handshake succeeded'),
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err.code).to.equal('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    });

    it('accepts TLS 1.2 and 1.3 clients', async () => {
      expect((await handshake(srv.port, { ...legacy, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })).protocol).to.equal('TLSv1.2');
      expect((await handshake(srv.port, { minVersion: 'TLSv1.3' })).protocol).to.equal('TLSv1.3');
    });

    it('refuses to start without a usable certificate pair', async () => {
      const empty = join(workDir, 'empty');
      await mkdir(empty, { recursive: true });
      await start({ certDir: empty }).then(
        () => expect.fail('started without certificates'),
        (err: Error) => expect(err.message).to.match(/cannot read tls\.crt\/tls\.key/),
      );
      const mismatched = join(workDir, 'mismatched');
      await mkdir(mismatched, { recursive: true });
      const a = makePair();
      const b = makePair();
      await writeFile(join(mismatched, 'tls.crt'), a.cert);
      await writeFile(join(mismatched, 'tls.key'), b.key);
      await start({ certDir: mismatched }).then(
        () => expect.fail('started with a mismatched pair'),
        (err: Error) => expect(err.message).to.match(/does not belong/),
      );
    });
  });

  describe('certificate reload', () => {
    it('serves a new pair written by the certs command (new CA) to new connections', async () => {
      const dir = join(workDir, 'reload-cli');
      await cp(certDir, dir, { recursive: true });
      const events: CertificateReloadEvent[] = [];
      const srv = await start({ certDir: dir, certPollIntervalMs: 250, onCertificateReload: (e) => events.push(e) });
      const oldCa = await readFile(join(dir, 'ca.crt'));
      const oldSerial = await serialOf(join(dir, 'tls.crt'));
      expect((await handshake(srv.port, { ca: [oldCa] })).serialNumber).to.equal(oldSerial);

      expect(await runCertsCommand(['--out', dir, '--ip', '127.0.0.1', '--dns', 'localhost'], quiet)).to.equal(0);
      const newCa = await readFile(join(dir, 'ca.crt'));
      const newSerial = await serialOf(join(dir, 'tls.crt'));
      expect(newSerial).to.not.equal(oldSerial);

      await waitFor('the new certificate to be served', async () => (await handshake(srv.port, { ca: [oldCa, newCa] })).serialNumber === newSerial);
      expect(srv.certificateSerialNumber()).to.equal(newSerial);
      expect(events.some((e) => e.result === 'applied' && e.serialNumber === newSerial)).to.equal(true);
      // Verified against the new CA alone, and the TLS floor survived setSecureContext.
      expect((await postReview(srv.port, review('after-reload'), { ca: [newCa] })).status).to.equal(200);
      const err = await handshake(srv.port, { ca: [newCa], ciphers: 'DEFAULT@SECLEVEL=0', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e.code,
      );
      expect(err).to.equal('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    });

    it('follows a Kubernetes secret volume (..data symlink swap) and ignores a bad pair', async () => {
      const dir = join(workDir, 'secret-volume');
      await mkdir(dir);
      const a = makePair();
      const b = makePair();
      const c = makePair();
      await writeSecretVolume(dir, { 'tls.crt': a.cert, 'tls.key': a.key, 'ca.crt': a.ca });
      const events: CertificateReloadEvent[] = [];
      const srv = await start({ certDir: dir, certPollIntervalMs: 250, onCertificateReload: (e) => events.push(e) });
      const ca = [Buffer.from(a.ca), Buffer.from(b.ca)];
      expect((await handshake(srv.port, { ca })).serialNumber).to.equal(a.serialNumber);

      // b's certificate with c's key: must be refused, a stays in use.
      await writeSecretVolume(dir, { 'tls.crt': b.cert, 'tls.key': c.key, 'ca.crt': b.ca });
      const rejected = await waitFor('the mismatched pair to be rejected', () => events.find((e) => e.result === 'invalid'));
      expect(rejected).to.have.property('error').that.matches(/does not belong/);
      expect(events.filter((e) => e.result === 'applied')).to.deep.equal([]);
      expect((await handshake(srv.port, { ca })).serialNumber).to.equal(a.serialNumber);
      expect((await postReview(srv.port, review('still-a'), { ca })).status).to.equal(200);

      // Not a certificate at all: also refused.
      await writeSecretVolume(dir, { 'tls.crt': 'garbage', 'tls.key': c.key, 'ca.crt': b.ca });
      await waitFor('the garbage certificate to be rejected', () => events.filter((e) => e.result === 'invalid').length >= 2);
      expect((await handshake(srv.port, { ca })).serialNumber).to.equal(a.serialNumber);

      // A good pair again: applied.
      await writeSecretVolume(dir, { 'tls.crt': b.cert, 'tls.key': b.key, 'ca.crt': b.ca });
      await waitFor('pair b to be served', async () => (await handshake(srv.port, { ca })).serialNumber === b.serialNumber);
      expect(events.filter((e) => e.result === 'applied').map((e) => (e.result === 'applied' ? e.serialNumber : ''))).to.deep.equal([b.serialNumber]);
    });
  });

  describe('graceful shutdown', () => {
    it('turns /readyz to 503 at once while still serving during the delay', async () => {
      const srv = await start({ shutdownDelayMs: 60_000 });
      expect((await call({ port: srv.port, path: '/readyz' })).status).to.equal(200);
      const stopping = srv.shutdown('SIGTERM');
      expect(srv.isShuttingDown()).to.equal(true);
      const ready = await call({ port: srv.port, path: '/readyz' });
      expect(ready.status).to.equal(503);
      expect(json(ready)).to.deep.equal({ ready: false, reason: 'shutting down' });
      expect(ready.headers['connection']).to.equal('close');
      expect((await call({ port: srv.port, path: '/healthz' })).status).to.equal(200);
      const admitted = await postReview(srv.port, review('during-delay'));
      expect(admitted.status).to.equal(200);
      expect(admitted.headers['connection']).to.equal('close');
      // A second signal: stop now, without waiting out the delay.
      await srv.close();
      await stopping;
      expect(srv.server.listening).to.equal(false);
    });

    it('lets an in-flight request finish, refuses new connections, then resolves', async () => {
      const srv = await start({ shutdownDelayMs: 50 });
      const body = Buffer.from(JSON.stringify(review('in-flight')));
      const half = Math.floor(body.length / 2);
      const serverGotRequest = once(srv.server, 'request');
      let finishUpload: () => void = () => undefined;
      const replyPromise = new Promise<Reply>((resolve, reject) => {
        const req = httpsRequest(
          { host: HOST, port: srv.port, method: 'POST', path: '/mutate', ca: caPems, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, reusedSocket: false }));
          },
        );
        req.on('error', reject);
        req.write(body.subarray(0, half));
        finishUpload = () => req.end(body.subarray(half));
      });
      await serverGotRequest;

      let stopped = false;
      const stopping = srv.shutdown('SIGTERM').then(() => {
        stopped = true;
      });
      await waitFor('the listener to close', () => !srv.server.listening);
      const refused = await handshake(srv.port).then(
        () => 'connected',
        (e: NodeJS.ErrnoException) => e.code,
      );
      expect(refused).to.equal('ECONNREFUSED');
      expect(stopped, 'shutdown must wait for the in-flight request').to.equal(false);

      finishUpload();
      const reply = await replyPromise;
      expect(reply.status).to.equal(200);
      expect((json(reply)['response'] as { uid: string }).uid).to.equal('in-flight');
      await stopping;
      expect(stopped).to.equal(true);
    });

    it('closes idle keep-alive connections instead of waiting for them', async () => {
      const srv = await start({ shutdownDelayMs: 0, shutdownTimeoutMs: 20_000 });
      const agent = new Agent({ keepAlive: true, ca: caPems });
      try {
        expect((await postReview(srv.port, review('idle'), { agent })).status).to.equal(200);
        const started = Date.now();
        await srv.shutdown();
        expect(Date.now() - started).to.be.lessThan(5_000);
      } finally {
        agent.destroy();
      }
    });

    it('closes connections that were opened but never sent a request', async () => {
      const srv = await start({ shutdownDelayMs: 0, shutdownTimeoutMs: 20_000 });
      // The apiserver keeps spare connections like this one open to the webhook.
      const spare = tlsConnect({ host: HOST, port: srv.port, ca: caPems });
      await once(spare, 'secureConnect');
      const closedByServer = once(spare, 'close');
      const started = Date.now();
      await srv.shutdown();
      expect(Date.now() - started).to.be.lessThan(5_000);
      await closedByServer;
    });

    it('close() during a drain stops waiting at once', async () => {
      const srv = await start({ shutdownDelayMs: 0, shutdownTimeoutMs: 20_000 });
      const serverGotRequest = once(srv.server, 'request');
      const req = httpsRequest({ host: HOST, port: srv.port, method: 'POST', path: '/mutate', ca: caPems, agent: false, headers: { 'content-type': 'application/json', 'content-length': 1000 } });
      req.on('error', () => undefined);
      req.write('{"apiVersion":');
      await serverGotRequest;
      const started = Date.now();
      const draining = srv.shutdown();
      await new Promise((r) => setTimeout(r, 100));
      await srv.close();
      await draining;
      expect(Date.now() - started).to.be.lessThan(5_000);
    });

    it('shutdownOnSignals: the first signal drains and exits 0, a second one stops at once', async () => {
      const srv = await start({ shutdownDelayMs: 60_000 });
      let exitCode: number | undefined;
      const remove = shutdownOnSignals(srv, { signals: ['SIGUSR2'], exit: (code) => (exitCode = code) });
      try {
        process.emit('SIGUSR2', 'SIGUSR2');
        expect(srv.isShuttingDown()).to.equal(true);
        expect((await call({ port: srv.port, path: '/readyz' })).status).to.equal(503);
        expect(exitCode).to.equal(undefined);
        process.emit('SIGUSR2', 'SIGUSR2');
        await waitFor('the process to exit', () => exitCode !== undefined);
        expect(exitCode).to.equal(0);
        expect(srv.server.listening).to.equal(false);
      } finally {
        remove();
      }
    });

    it('gives up on a request that never finishes after shutdownTimeoutMs', async () => {
      const srv = await start({ shutdownDelayMs: 0, shutdownTimeoutMs: 300 });
      const serverGotRequest = once(srv.server, 'request');
      const outcome = new Promise<string>((resolve) => {
        const req = httpsRequest(
          { host: HOST, port: srv.port, method: 'POST', path: '/mutate', ca: caPems, agent: false, headers: { 'content-type': 'application/json', 'content-length': 1000 } },
          (res) => resolve(`answered ${res.statusCode}`),
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        req.write('{"apiVersion":');
      });
      await serverGotRequest;
      const started = Date.now();
      await srv.shutdown();
      expect(Date.now() - started).to.be.within(250, 5_000);
      expect(await outcome).to.equal('ECONNRESET');
    });
  });
});
