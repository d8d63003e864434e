// The lab's bandwidth limiter on 127.0.0.1: bytes arrive intact, and no faster than
// the link allows. Only a lower bound on time is asserted; a loaded machine can only
// make it slower.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { startThrottleProxy } from '../e2e/real-node/throttle.js';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

function download(port: number): Promise<{ bytes: Buffer; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve({ bytes: Buffer.concat(chunks), ms: Date.now() - t0 }));
    socket.on('error', reject);
  });
}

describe('lab bandwidth limiter', function () {
  this.timeout(30_000);
  const payload = randomBytes(2_000_000);
  const servers: net.Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  it('delivers every byte, at no more than the configured rate, shared by parallel connections', async () => {
    const origin = net.createServer((socket) => socket.end(payload));
    servers.push(origin);
    const originPort = await listen(origin);
    const linkPort = await freePort();
    servers.push(...(await startThrottleProxy(4_000_000, [{ listenPort: linkPort, targetPort: originPort }])));

    const one = await download(linkPort);
    expect(createHash('sha256').update(one.bytes).digest('hex')).to.equal(createHash('sha256').update(payload).digest('hex'));
    // 2 MB at 4 MB/s: at least ~0.5 s (less one 64 KiB chunk that goes before the wait).
    expect(one.ms).to.be.at.least(400);

    // Two at once share the link: 4 MB at 4 MB/s, about a second for both.
    const t0 = Date.now();
    const both = await Promise.all([download(linkPort), download(linkPort)]);
    expect(both.every((d) => d.bytes.length === payload.length)).to.equal(true);
    expect(Date.now() - t0).to.be.at.least(900);
  });
});
