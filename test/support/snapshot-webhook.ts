/**
 * `image-locality serve --cluster SNAPSHOT` as a child process (the real server,
 * as an operator runs it offline), with a keep-alive HTTPS client that verifies it
 * against the CA `image-locality certs` made.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, makeCertificates } from '../e2e/support/webhook-process.js';

const cli = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'cli.js');

export interface Reply {
  status: number;
  text: string;
  /** Client-side time from sending to the last byte of the answer. */
  ms: number;
}

export interface SnapshotWebhook {
  port: number;
  post(body: string | Buffer, path?: string): Promise<Reply>;
  get(path: string): Promise<Reply>;
  /** A value from /metrics, e.g. nodejs_heap_size_used_bytes. */
  metric(name: string): Promise<number>;
  output(): string;
  stop(): Promise<void>;
}

export async function startSnapshotWebhook(snapshot: unknown, options: { maxSockets?: number; env?: Record<string, string> } = {}): Promise<SnapshotWebhook> {
  const dir = mkdtempSync(join(tmpdir(), 'image-locality-snapshot-'));
  const file = join(dir, 'snapshot.json');
  writeFileSync(file, JSON.stringify(snapshot));
  const certs = await makeCertificates(join(dir, 'certs'));
  const ca = readFileSync(join(certs.certDir, 'ca.crt'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--cluster', file, '--port', String(port), '--host', '127.0.0.1', '--cert-dir', certs.certDir, '--shutdown-delay-ms', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn', ...(options.env ?? {}) } },
  );
  let output = '';
  const keep = (d: Buffer): void => {
    // Keep the tail only: the test reads it on failure, and logs must not grow the test's heap.
    output = (output + d.toString()).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 8, ca });

  const send = (method: string, path: string, body?: string | Buffer): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${output}`);
    const ready = await send('GET', '/readyz').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`serve not ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    port,
    post: (body, path = '/mutate') => send('POST', path, body),
    get: (path) => send('GET', path),
    async metric(name) {
      const text = (await send('GET', '/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
      if (!line) throw new Error(`no metric ${name}`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    },
    output: () => output,
    async stop() {
      agent.destroy();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
