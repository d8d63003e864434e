import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../control-plane/control-plane.js';

/** `image-locality serve` as a child process, exactly as an operator would run it. */
export interface RunningWebhook {
  port: number;
  certDir: string;
  /** base64 CA bundle printed by `image-locality certs`. */
  caBundle: string;
  /** Everything the process wrote (JSON log lines). */
  output(): string;
  /** Ask /readyz until it says 200. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL: the webhook disappears without a goodbye. */
  kill(): Promise<void>;
  readonly process: ChildProcess;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function cliPath(): string {
  return join(repoRoot(), 'dist', 'src', 'cli.js');
}

/** Run `image-locality certs` for 127.0.0.1 and return the directory and caBundle. */
export async function makeCertificates(dir?: string): Promise<{ certDir: string; caBundle: string }> {
  const certDir = dir ?? (await mkdtemp(join(tmpdir(), 'image-locality-e2e-certs-')));
  const child = spawn(process.execPath, [cliPath(), 'certs', '--out', certDir, '--ip', '127.0.0.1', '--dns', 'localhost'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`image-locality certs failed (${code}): ${stderr}`);
  const caBundle = stdout.trim().split('\n').pop() ?? '';
  return { certDir, caBundle };
}

async function httpsStatus(port: number, path: string, ca: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The parts of a spawned CLI process both programs share. */
interface CliProcess {
  child: ChildProcess;
  output(): string;
  /** Poll `status()` until it says 200; fail at once if the process exits. */
  waitFor(what: string, status: () => Promise<number>, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

function spawnCli(args: string[], kubeconfigPath: string, env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [cliPath(), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: kubeconfigPath, LOG_LEVEL: 'debug', ...env },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null) child.kill(signal);
    await exited;
    process.off('exit', onExit);
  };
  return {
    child,
    output: () => output,
    async waitFor(what, status, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        // A process killed by a signal has exitCode null and signalCode set.
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${what} exited with ${child.exitCode ?? child.signalCode}:\n${output}`);
        }
        if ((await status()) === 200) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what} not ready after ${timeoutMs} ms:\n${output.slice(-4000)}`);
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}

export async function startWebhook(options: {
  kubeconfigPath: string;
  namespace?: string;
  port?: number;
  certs?: { certDir: string; caBundle: string };
  env?: Record<string, string>;
}): Promise<RunningWebhook> {
  const certs = options.certs ?? (await makeCertificates());
  const port = options.port ?? (await freePort());
  const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--cert-dir', certs.certDir, '--shutdown-delay-ms', '0'];
  if (options.namespace) args.push('--namespace', options.namespace);
  const cli = spawnCli(args, options.kubeconfigPath, options.env);
  const ca = readFileSync(join(certs.certDir, 'ca.crt'));
  return {
    port,
    certDir: certs.certDir,
    caBundle: certs.caBundle,
    process: cli.child,
    output: cli.output,
    waitReady: (timeoutMs = 30_000) => cli.waitFor('webhook', () => httpsStatus(port, '/readyz', ca), timeoutMs),
    stop: cli.stop,
    kill: cli.kill,
  };
}

async function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** `image-locality controller` as a child process: warming, leader-elected, probes on plain HTTP. */
export interface RunningController {
  /** Port of /healthz, /readyz, /metrics (plain HTTP on 127.0.0.1). */
  port: number;
  output(): string;
  waitReady(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  readonly process: ChildProcess;
}

export async function startController(options: {
  kubeconfigPath: string;
  namespace?: string;
  port?: number;
  env?: Record<string, string>;
}): Promise<RunningController> {
  const port = options.port ?? (await freePort());
  const args = ['controller', '--port', String(port), '--host', '127.0.0.1'];
  if (options.namespace) args.push('--namespace', options.namespace);
  const cli = spawnCli(args, options.kubeconfigPath, options.env);
  return {
    port,
    process: cli.child,
    output: cli.output,
    waitReady: (timeoutMs = 30_000) => cli.waitFor('controller', () => httpStatus(port, '/readyz'), timeoutMs),
    stop: cli.stop,
    kill: cli.kill,
  };
}

/** A kubeconfig for an API server that is not there (a free port on 127.0.0.1 nothing listens on). */
export async function writeUnreachableKubeconfig(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'image-locality-unreachable-'));
  const deadPort = await freePort();
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${deadPort}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: u, user: {token: t}}]',
      'contexts: [{name: c, context: {cluster: gone, user: u}}]',
      'current-context: c',
    ].join('\n'),
  );
  return kubeconfig;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
