// The lab's network namespace and the bridge between it and the test process.
//
// The kubelet refuses a loopback node address, and nothing a test starts may send
// traffic outside 127.0.0.0/8 except inside a namespace the run made itself. So the
// lab gets its own namespace: `lo` up, no other link, no route, node addresses
// added to that `lo`. Processes join it with `nsenter --net` only (not `ip netns
// exec`, whose private mount namespace hides the host's cgroup mounts from the
// kubelet and volume mounts from containerd).
//
// The test process stays outside. It reaches a server inside through a relay that
// listens on a Unix socket (a file, visible from both sides) and dials 127.0.0.1
// inside; a server outside (the webhook) is exposed inside the same way, reversed.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { joinSockets } from './sockets.js';
import { run, spawnInLab, waitFor, type LabProcess } from './procs.js';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return path.join(NETNS_DIR, name);
}

/** The prefix that runs a command inside the namespace (network only). */
export function netnsWrap(name: string): string[] {
  return ['nsenter', `--net=${netnsPath(name)}`];
}

export function createNetns(name: string, addresses: string[]): void {
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  for (const a of addresses) run('ip', ['-n', name, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
}

export function deleteNetns(name: string): void {
  if (fs.existsSync(netnsPath(name))) run('ip', ['netns', 'del', name], { allowFail: true });
}

/** The routes inside the namespace, as `ip route` prints them (tests check there is none out). */
export function routesInside(name: string): string {
  return run('ip', ['-n', name, 'route', 'show']) + run('ip', ['-n', name, '-6', 'route', 'show'], { allowFail: true });
}

export interface Bridge {
  /** A TCP connection to 127.0.0.1:port inside the namespace. */
  connect(port: number): net.Socket;
  /** A port on the host's 127.0.0.1 that leads to 127.0.0.1:port inside. */
  forward(port: number): Promise<number>;
  /** Makes the host's 127.0.0.1:port reachable as 127.0.0.1:port inside. */
  expose(port: number): Promise<void>;
  close(): void;
  processes: LabProcess[];
}

export async function startBridge(opts: { wrap: string[]; dir: string; logDir: string; relayScript: string }): Promise<Bridge> {
  const dialSocket = path.join(opts.dir, 'dial.sock');
  const processes: LabProcess[] = [];
  const servers: net.Server[] = [];
  const relay = spawnInLab('relay-dial', process.execPath, [opts.relayScript, 'dial', dialSocket], {
    wrap: opts.wrap,
    logDir: opts.logDir,
    stdinPipe: true,
  });
  processes.push(relay);
  await waitFor(relay, 'relay', 30_000, () => fs.existsSync(dialSocket));

  const connect = (port: number): net.Socket => {
    const socket = net.connect({ path: dialSocket });
    socket.write(`${port}\n`);
    return socket;
  };

  const listen = (server: net.Server, where: number | string): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      if (typeof where === 'number') server.listen(where, '127.0.0.1', () => resolve());
      else server.listen(where, () => resolve());
    });

  return {
    processes,
    connect,
    async forward(port) {
      const server = net.createServer((client) => {
        joinSockets(client, connect(port));
      });
      await listen(server, 0);
      servers.push(server);
      return (server.address() as net.AddressInfo).port;
    },
    async expose(port) {
      const socketPath = path.join(opts.dir, `expose-${port}.sock`);
      fs.rmSync(socketPath, { force: true });
      const server = net.createServer((inside) => {
        joinSockets(inside, net.connect({ host: '127.0.0.1', port }));
      });
      await listen(server, socketPath);
      servers.push(server);
      const proc = spawnInLab(`relay-expose-${port}`, process.execPath, [opts.relayScript, 'expose', String(port), socketPath], {
        wrap: opts.wrap,
        logDir: opts.logDir,
        stdinPipe: true,
      });
      processes.push(proc);
      await waitFor(proc, `exposing port ${port} in the lab`, 30_000, () => fs.readFileSync(proc.logFile, 'utf8').includes('listening'));
    },
    close() {
      for (const s of servers) s.close();
      for (const p of processes) p.child.kill('SIGKILL');
    },
  };
}
