/**
 * `npm run image:smoke`: builds the Dockerfile with buildah (chroot isolation, vfs
 * storage, stand-in bases where the real ones cannot be pulled), then runs the
 * image with runc as a hardened pod would run it and checks what a user relies on:
 * it answers /healthz, /readyz and /mutate as PID 1, as user 65532 with no
 * capabilities, on a root file system it cannot write, exits 0 on SIGTERM, and
 * ships no development dependencies, declarations, source maps or tests.
 *
 * Needs root, buildah, runc and debootstrap (.ci/run installs them). The image
 * comes from project-image.ts: reused when its inputs are unchanged, else built
 * with cached layers (--layers), so only what changed is rebuilt.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { parse } from 'yaml';
import { freePort } from '../e2e/support/webhook-process.js';
import { repoRoot } from '../e2e/control-plane/control-plane.js';
import { buildah, inspectImage, run, runc, type ImageConfig } from './buildah.js';
import { inspectContents, type ContentReport } from './image-contents.js';
import { projectImage } from './project-image.js';
import { hardenedConfig } from './runc-bundle.js';

const SHUTDOWN_DELAY_MS = 2000;

interface HttpsReply {
  status: number;
  body: string;
}

function https(port: number, ca: Buffer, method: string, path: string, body?: string): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, ca, servername: 'localhost', timeout: 5000, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(body);
  });
}

/** Fields of /proc/PID/status, e.g. Uid, CapEff, NSpid, NoNewPrivs. */
function procStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

describe('container image (buildah build, runc run)', function () {
  this.timeout(30 * 60_000);
  const root = repoRoot();
  let workDir = '';
  let container = '';
  let rootfs = '';
  let image: ImageConfig = {};
  let contents: ContentReport;

  before(function () {
    workDir = mkdtempSync(join(tmpdir(), 'image-locality-smoke-'));
    const built = projectImage();
    process.stderr.write(`      image ${built.name} ${built.built ? 'built' : 'reused (inputs unchanged)'} in ${built.seconds.toFixed(0)} s\n`);
    image = inspectImage(built.name);
    container = buildah(['from', '--pull=never', '--name', `image-locality-smoke-${process.pid}`, built.name]).trim();
    rootfs = buildah(['mount', container]).trim();
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Parameters<typeof inspectContents>[2];
    contents = inspectContents(rootfs, image.WorkingDir ?? '/app', lock);
  });

  after(function () {
    if (container) {
      try {
        buildah(['umount', container]);
        buildah(['rm', container]);
      } catch (err) {
        process.stderr.write(`cleanup: ${(err as Error).message}\n`);
      }
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('runs as a numeric non-root user with the node entrypoint and serve by default', function () {
    expect(image.User).to.equal('65532:65532');
    expect(image.Entrypoint).to.deep.equal(['/nodejs/bin/node', '/app/dist/src/cli.js']);
    expect(image.Cmd?.[0]).to.equal('serve');
  });

  it('ships no dev dependencies, declarations, source maps, tests or shell', function () {
    expect(contents.problems).to.deep.equal([]);
    expect(contents.packages).to.be.greaterThan(10);
    expect(readdirSync(join(rootfs, 'app/dist'))).to.deep.equal(['src']);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stderr.write(
      `      image size: ${mb(contents.totalBytes)} MB unpacked (node_modules ${mb(contents.nodeModulesBytes)} MB, ${contents.packages} packages)\n`,
    );
  });

  describe('run with runc: PID 1, non-root, read-only root, no capabilities', function () {
    const id = `image-locality-smoke-${process.pid}`;
    let port = 0;
    let ca: Buffer;
    let child: ChildProcess;
    let exit: Promise<number | null>;
    let output = '';
    let hostPid = 0;

    before(async function () {
      this.timeout(120_000);
      const certDir = join(workDir, 'certs');
      run(process.execPath, [join(root, 'dist/src/cli.js'), 'certs', '--out', certDir, '--dns', 'localhost', '--ip', '127.0.0.1']);
      // A Secret volume is readable by the pod's user; so must these be.
      for (const file of readdirSync(certDir)) chownSync(join(certDir, file), 65532, 65532);
      ca = readFileSync(join(certDir, 'ca.crt'));
      port = await freePort();
      const bundle = join(workDir, 'bundle');
      run('mkdir', ['-p', bundle]);
      run('runc', ['spec', '--bundle', bundle]);
      const template = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as unknown;
      const config = hardenedConfig(template, image, {
        rootfs,
        args: ['serve', '--cluster', '/app/examples/cluster-snapshot.yaml', '--cert-dir', '/etc/image-locality/certs', '--port', String(port), '--host', '127.0.0.1', '--shutdown-delay-ms', String(SHUTDOWN_DELAY_MS)],
        mounts: [{ source: certDir, destination: '/etc/image-locality/certs' }],
      });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
      child = spawn('runc', ['--root', '/run/image-locality-smoke-runc', 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`container exited ${child.exitCode}:\n${output}`);
        const reply = await https(port, ca, 'GET', '/readyz').catch(() => undefined);
        if (reply?.status === 200) break;
        if (Date.now() > deadline) throw new Error(`container not ready in 60 s:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      hostPid = Number(JSON.parse(runc(['state', id])).pid);
    });

    after(async function () {
      if (child && child.exitCode === null) {
        try {
          runc(['kill', id, 'KILL']);
        } catch {
          // already gone
        }
        await exit;
      }
      try {
        runc(['delete', '--force', id]);
      } catch {
        // never created or already deleted
      }
    });

    it('answers /healthz and /readyz over TLS with the mounted certificate', async function () {
      expect((await https(port, ca, 'GET', '/healthz')).status).to.equal(200);
      expect((await https(port, ca, 'GET', '/readyz')).status).to.equal(200);
    });

    it('mutates a pod from the bundled example through POST /mutate', async function () {
      const pod = parse(readFileSync(join(root, 'examples/pod.yaml'), 'utf8')) as { metadata: { namespace: string } };
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: 'smoke-1',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace: pod.metadata.namespace,
          operation: 'CREATE',
          userInfo: { username: 'smoke' },
          object: pod,
        },
      };
      const reply = await https(port, ca, 'POST', '/mutate', JSON.stringify(review));
      expect(reply.status).to.equal(200);
      const response = (JSON.parse(reply.body) as { response: { uid: string; allowed: boolean; patchType?: string; patch?: string } }).response;
      expect(response.uid).to.equal('smoke-1');
      expect(response.allowed).to.equal(true);
      expect(response.patchType).to.equal('JSONPatch');
      const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString()) as Array<{ path: string }>;
      expect(patch.map((op) => op.path).join(' ')).to.contain('/spec/affinity');
    });

    it('is PID 1 of its namespace, uid/gid 65532, with every capability set empty and no new privileges', function () {
      const status = procStatus(hostPid);
      expect(status['NSpid']?.split(/\s+/).pop()).to.equal('1');
      expect(status['Uid']?.split(/\s+/)).to.deep.equal(['65532', '65532', '65532', '65532']);
      expect(status['Gid']?.split(/\s+/)).to.deep.equal(['65532', '65532', '65532', '65532']);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status[set], set).to.match(/^0+$/);
      expect(status['NoNewPrivs']).to.equal('1');
    });

    it('cannot write to its root file system', function () {
      const rootMount = readFileSync(`/proc/${hostPid}/mountinfo`, 'utf8')
        .split('\n')
        .map((line) => line.split(' '))
        .find((fields) => fields[4] === '/');
      expect(rootMount?.[5]?.split(',')).to.include('ro');
      // A second process in the same container, with the image's own node, tries.
      let message = '';
      try {
        runc(['exec', id, '/nodejs/bin/node', '-e', "require('fs').writeFileSync('/app/written', 'x')"]);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.match(/EROFS|read-only file system/);
    });

    it('serves a certificate for the names it was given (the mounted pair, not a built-in one)', async function () {
      const cert = await new Promise<X509Certificate>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
          const peer = socket.getPeerX509Certificate();
          socket.end();
          peer ? resolve(peer) : reject(new Error('no peer certificate'));
        });
        socket.on('error', reject);
      });
      expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    });

    it('exits 0 on SIGTERM after its readiness drain', async function () {
      const sentAt = Date.now();
      runc(['kill', id, 'TERM']);
      const code = await exit;
      const ms = Date.now() - sentAt;
      process.stderr.write(`      SIGTERM to exit: ${ms} ms (shutdown delay ${SHUTDOWN_DELAY_MS} ms)\n`);
      expect(code, output.slice(-2000)).to.equal(0);
      expect(ms).to.be.at.least(SHUTDOWN_DELAY_MS);
      expect(output).to.contain('shutdown complete');
    });
  });
});
