// Processes of the lab: started inside its network namespace, logged to files,
// killed with the test process (setpriv --pdeathsig), waited for by a probe.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface LabProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  /** Set once the process has exited. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

export interface SpawnOptions {
  /** Command prefix that puts the process into the lab's namespace, e.g. ['nsenter', '--net=/run/netns/x']. */
  wrap: string[];
  logDir: string;
  env?: NodeJS.ProcessEnv;
  /** Keep stdin as a pipe: helpers written in Node exit when it closes. */
  stdinPipe?: boolean;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Blocks the thread: for exit handlers, which cannot await. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function spawnInLab(name: string, command: string, args: string[], opts: SpawnOptions): LabProcess {
  const logFile = path.join(opts.logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // pdeathsig: the kernel kills the process when the test process dies, even by SIGKILL.
    child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...opts.wrap, command, ...args], {
      stdio: [opts.stdinPipe ? 'pipe' : 'ignore', fd, fd],
      env: { ...process.env, KUBECONFIG: '', ...(opts.env ?? {}) },
    });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: failed to spawn ${command}`);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => (exit = { code, signal }));
  child.on('error', () => (exit ??= { code: null, signal: null }));
  return { name, pid: child.pid, logFile, child, exited: () => exit };
}

export function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until it returns true; fails early with the log tail when the process exits. */
export async function waitFor(proc: LabProcess, what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const exit = proc.exited();
    if (exit) throw new Error(`${what}: ${proc.name} exited (code ${exit.code}, signal ${exit.signal}); last lines of ${proc.logFile}:\n${tail(proc.logFile)}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not ready after ${timeoutMs} ms${last ? ` (${last})` : ''}; last lines of ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    await sleep(200);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** SIGKILL each pid and wait (synchronously, bounded) until they are gone. */
export function killAndWaitSync(pids: number[], timeoutMs = 5_000): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) sleepSync(20);
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: string[], opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): string {
  const r = spawnSync(command, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 120_000 });
  if ((r.status !== 0 || r.error) && !opts.allowFail) {
    throw new Error(`${command} ${args.join(' ')} failed (${r.error?.message ?? `status ${r.status}`}): ${(r.stderr || r.stdout || '').trim().slice(-2000)}`);
  }
  return r.stdout ?? '';
}
