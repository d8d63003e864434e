/**
 * `image-locality serve --tls-secret` as a child process: the webhook makes its
 * own certificates. Readiness is asked over TLS without a CA (there is none to
 * give it before the webhook made one); the served certificate is read back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { repoRoot } from '../control-plane/control-plane.js';

export interface SelfManagedWebhook {
  port: number;
  child: ChildProcess;
  output(): string;
  waitReady(timeoutMs?: number): Promise<void>;
  /** The certificate served right now. */
  servedCertificate(): Promise<X509Certificate>;
  stop(): Promise<void>;
}

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export function startSelfManagedWebhook(options: { kubeconfigPath: string; port: number; namespace: string; extraArgs?: string[] }): SelfManagedWebhook {
  const certDir = mkdtempSync(join(tmpdir(), 'image-locality-selfcerts-'));
  const args = [
    join(repoRoot(), 'dist', 'src', 'cli.js'),
    'serve',
    '--port',
    String(options.port),
    '--host',
    '127.0.0.1',
    '--namespace',
    options.namespace,
    '--cert-dir',
    certDir,
    '--tls-secret',
    'image-locality-tls',
    '--cert-ip',
    '127.0.0.1',
    '--shutdown-delay-ms',
    '0',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: options.kubeconfigPath, LOG_LEVEL: 'info' },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  return {
    port: options.port,
    child,
    output: () => output,
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`webhook exited ${child.exitCode ?? child.signalCode}:\n${output}`);
        if ((await readyz(options.port)) === 200) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`webhook not ready after ${timeoutMs} ms:\n${output.slice(-4000)}`);
    },
    servedCertificate() {
      return new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: options.port, rejectUnauthorized: false }, () => {
          const peer = socket.getPeerCertificate(false) as PeerCertificate;
          socket.end();
          resolve(new X509Certificate(peer.raw));
        });
        socket.on('error', reject);
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      process.off('exit', onExit);
    },
  };
}
