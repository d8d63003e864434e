// A byte relay that runs inside the lab's network namespace (started with
// `nsenter --net=...`). A Unix socket is a file, not a network endpoint, so it is
// reachable from both namespaces: that is how the test process (outside) reaches
// servers inside the namespace, and how the apiserver (inside) reaches a webhook
// that runs outside, without any address outside 127.0.0.0/8 on either side.
//
//   relay.js dial SOCKET            each connection to SOCKET first sends "PORT\n";
//                                   the rest is piped to 127.0.0.1:PORT (inside)
//   relay.js expose PORT SOCKET     127.0.0.1:PORT (inside) piped to SOCKET, where
//                                   the outside side listens
//   relay.js forward ADDR:PORT TO   ADDR:PORT (inside) piped to 127.0.0.1:TO (inside):
//                                   a Service's ClusterIP for pods, as kube-proxy's
//                                   userspace mode did (there is no kube-proxy)
//
// A trailing --lab=DIR is ignored here; it marks the process as the lab's, so that
// a teardown finds it.
//
// It exits when its parent goes away (stdin closes), so it cannot outlive a lab.
import fs from 'node:fs';
import net from 'node:net';
import { joinSockets } from './sockets.js';

const MAX_HEADER = 16;

/** Reads "PORT\n" from the client, then connects and pipes the rest. */
function dialServer(socketPath: string): net.Server {
  return net.createServer((client) => {
    let header = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      header = Buffer.concat([header, chunk]);
      const nl = header.indexOf(10);
      if (nl < 0) {
        if (header.length > MAX_HEADER) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const port = Number(header.subarray(0, nl).toString('ascii'));
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: '127.0.0.1', port }, () => {
        const rest = header.subarray(nl + 1);
        if (rest.length > 0) upstream.write(rest);
        joinSockets(client, upstream);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
    client.on('error', () => client.destroy());
  }).listen(socketPath);
}

/** Listens on host:port inside and joins each connection to a fresh `dial()`. */
function pipeServer(host: string, port: number, dial: () => net.Socket): net.Server {
  return net.createServer((client) => joinSockets(client, dial())).listen(port, host);
}

function exposeServer(port: number, socketPath: string): net.Server {
  return pipeServer('127.0.0.1', port, () => net.connect({ path: socketPath }));
}

function forwardServer(listen: string, port: number): net.Server {
  const at = listen.lastIndexOf(':');
  return pipeServer(listen.slice(0, at), Number(listen.slice(at + 1)), () => net.connect({ host: '127.0.0.1', port }));
}

function main(argv: string[]): void {
  const [mode, a, b] = argv;
  let server: net.Server;
  if (mode === 'dial' && a) {
    fs.rmSync(a, { force: true });
    server = dialServer(a);
  } else if (mode === 'expose' && a && b) {
    server = exposeServer(Number(a), b);
  } else if (mode === 'forward' && a?.includes(':') && b) {
    server = forwardServer(a, Number(b));
  } else {
    process.stderr.write('usage: relay.js dial SOCKET | relay.js expose PORT SOCKET | relay.js forward ADDR:PORT TO\n');
    process.exit(2);
  }
  server.on('error', (err) => {
    process.stderr.write(`relay: ${err.message}\n`);
    process.exit(1);
  });
  server.on('listening', () => process.stdout.write('listening\n'));
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
}

main(process.argv.slice(2));
