// The list-watch transport against a local HTTP server standing in for the API
// server: list pages are applied item by item while the response is still arriving,
// HTTP errors keep their status code (410 drives a relist), and watches deliver
// events split anywhere across chunks and end in exactly one onDone.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiRequestError, kubeTransport } from '../../src/cluster/api-transport.js';
import type { ListWatchTransport } from '../../src/cluster/list-watch.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('list-watch transport over HTTP', function () {
  this.timeout(20_000);
  let server: Server;
  let handler: Handler = (_req, res) => res.end();
  let transport: ListWatchTransport;
  const headersSeen: string[] = [];

  before(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    transport = kubeTransport({
      getCurrentCluster: () => ({ server: base }),
      applyToHTTPSOptions: async (options) => {
        options.headers = { ...options.headers, Authorization: 'Bearer test-token' };
      },
    });
  });
  beforeEach(() => (headersSeen.length = 0));
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('applies each listed item before the page has finished arriving, and returns the page metadata', async () => {
    let release!: () => void;
    const rest = new Promise<void>((resolve) => (release = resolve));
    handler = (req, res) => {
      headersSeen.push(String(req.headers.authorization), req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"kind":"NodeList","metadata":{"resourceVersion":"77","continue":"next-page"},"items":[{"metadata":{"name":"n1"}},{"meta');
      void rest.then(() => res.end('data":{"name":"n2"}}]}'));
    };
    const items: unknown[] = [];
    const page = await transport.listPage('/api/v1/nodes', { limit: '2' }, new AbortController().signal, (item) => {
      items.push(item);
      if (items.length === 1) release();
    });
    expect(items).to.deep.equal([{ metadata: { name: 'n1' } }, { metadata: { name: 'n2' } }]);
    expect(page).to.deep.equal({ resourceVersion: '77', continue: 'next-page' });
    expect(headersSeen).to.deep.equal(['Bearer test-token', '/api/v1/nodes?limit=2']);
  });

  it('rejects an HTTP error with its status code and the server\'s message', async () => {
    handler = (_req, res) => {
      res.writeHead(410, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'The provided continue parameter is too old' }));
    };
    const error = await transport.listPage('/api/v1/nodes', {}, new AbortController().signal, () => undefined).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(ApiRequestError);
    expect((error as ApiRequestError).statusCode).to.equal(410);
    expect((error as Error).message).to.contain('continue parameter is too old');
  });

  it('rejects a list whose connection breaks mid-page, after applying only the items that were complete', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"n1"}},{"metadata":');
      setTimeout(() => res.socket?.destroy(), 50);
    };
    const items: unknown[] = [];
    const error = await transport.listPage('/api/v1/nodes', {}, new AbortController().signal, (item) => items.push(item)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(Error);
    expect(items).to.deep.equal([{ metadata: { name: 'n1' } }]);
  });

  it('rejects a list whose item handler throws, with that error', async () => {
    handler = (_req, res) => res.end('{"items":[{"metadata":{"name":"n1"}}]}');
    const error = await transport.listPage('/api/v1/nodes', {}, new AbortController().signal, () => {
      throw new Error('projection failed');
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((error as Error).message).to.equal('projection failed');
  });

  it('delivers watch events split across chunks, skips lines that are not events, and ends with one onDone(null)', async () => {
    handler = (req, res) => {
      headersSeen.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"n1"}}}\n{"type":"MODI');
      setTimeout(() => {
        res.write('FIED","object":{"metadata":{"name":"n1","labels":{"a":"ü"}}}}\nnot json\n');
        res.end('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}\n');
      }, 30);
    };
    const events: Array<[string, unknown]> = [];
    const done: unknown[] = [];
    let ended!: () => void;
    const finished = new Promise<void>((resolve) => (ended = resolve));
    await transport.watch('/api/v1/nodes', { resourceVersion: '5', timeoutSeconds: '300' }, (type, object) => events.push([type, object]), (err) => {
      done.push(err);
      ended();
    });
    await finished;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).to.deep.equal([
      ['ADDED', { metadata: { name: 'n1' } }],
      ['MODIFIED', { metadata: { name: 'n1', labels: { a: 'ü' } } }],
      ['BOOKMARK', { metadata: { resourceVersion: '9' } }],
    ]);
    expect(done).to.deep.equal([null]);
    expect(new URL(headersSeen[0] as string, 'http://x').searchParams.get('watch')).to.equal('true');
    expect(new URL(headersSeen[0] as string, 'http://x').searchParams.get('resourceVersion')).to.equal('5');
  });

  it('rejects a watch the server refuses with its status code', async () => {
    handler = (_req, res) => {
      res.writeHead(410);
      res.end(JSON.stringify({ kind: 'Status', code: 410, message: 'too old resource version' }));
    };
    const error = await transport.watch('/api/v1/nodes', {}, () => undefined, () => undefined).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((error as ApiRequestError).statusCode).to.equal(410);
  });

  it('ends an aborted watch with onDone(null), and a broken one with an error', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{"metadata":{"name":"n1"}}}\n');
    };
    const outcomes: unknown[] = [];
    const aborted = await transport.watch('/api/v1/nodes', {}, () => undefined, (err) => outcomes.push(err));
    aborted.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(outcomes).to.deep.equal([null]);

    let socket: import('node:net').Socket | undefined;
    handler = (req, res) => {
      socket = req.socket;
      res.writeHead(200);
      res.write('\n');
    };
    const broken: unknown[] = [];
    await transport.watch('/api/v1/nodes', {}, () => undefined, (err) => broken.push(err));
    socket?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(broken).to.have.length(1);
    expect(broken[0]).to.be.instanceOf(Error);
  });
});
