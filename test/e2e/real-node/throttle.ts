// A TCP proxy that limits how fast bytes flow from the server back to the client:
// what a node's link to a remote registry would do. The lab's registry answers at
// memory speed, so without it every pull looks free and no start-time figure means
// anything. Each listener is one node's link: all connections through it share one
// budget, as the layers a containerd fetches in parallel share one network card.
// Uploads (client to server) pass unthrottled; only pulls are limited.
import net from 'node:net';
import { closeTogether } from './sockets.js';

/** Shared budget of one link: the time until which it is busy sending. */
export class Link {
  private busyUntil = 0;
  constructor(private readonly bytesPerSecond: number) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new RangeError(`rate must be a positive number of bytes per second, not ${bytesPerSecond}`);
    }
  }

  /** Books `bytes` on the link; returns the milliseconds until they have left it. */
  reserve(bytes: number, now = Date.now()): number {
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + (bytes * 1000) / this.bytesPerSecond;
    return this.busyUntil - now;
  }
}

export interface ProxyRoute {
  listenPort: number;
  targetPort: number;
}

function proxyConnection(client: net.Socket, targetPort: number, link: Link): void {
  const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
  client.pipe(upstream);
  upstream.on('data', (chunk: Buffer) => {
    const wait = link.reserve(chunk.length);
    // Write now, then hold the next read until the link is free: at most one
    // chunk (64 KiB) runs ahead of the budget.
    client.write(chunk);
    if (wait > 1) {
      upstream.pause();
      setTimeout(() => upstream.resume(), wait);
    }
  });
  upstream.on('end', () => client.end());
  closeTogether(client, upstream);
}

/** One listener on 127.0.0.1 per route, each its own link; resolves once all listen. */
export function startThrottleProxy(bytesPerSecond: number, routes: ProxyRoute[]): Promise<net.Server[]> {
  return Promise.all(
    routes.map(
      (route) =>
        new Promise<net.Server>((resolve, reject) => {
          const link = new Link(bytesPerSecond);
          const server = net.createServer((client) => proxyConnection(client, route.targetPort, link));
          server.once('error', reject);
          server.listen(route.listenPort, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
}

export function parseRoute(text: string): ProxyRoute {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (!m) throw new Error(`route must be LISTEN_PORT:TARGET_PORT, not ${JSON.stringify(text)}`);
  return { listenPort: Number(m[1]), targetPort: Number(m[2]) };
}
