// The controller's API calls as plain JSON against a local HTTP server standing in
// for the API server: the request each call sends, and errors that carry the HTTP
// status (callers test err.code === 404 / 409).
import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiError } from '../../src/cluster/api-client.js';
import { coreCalls, customObjectCalls, leaseCalls } from '../../src/cluster/kube-calls.js';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

describe('API calls as plain JSON', function () {
  this.timeout(20_000);
  let server: Server;
  let api: ApiClient;
  let base = '';
  const seen: Seen[] = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
        answer(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    api = new ApiClient({
      getCurrentCluster: () => ({ server: base }),
      applyToHTTPSOptions: async (options) => {
        options.headers = { ...options.headers, Authorization: 'Bearer t' };
      },
    });
  });
  beforeEach(() => {
    seen.length = 0;
    answer = (_req, res) => res.end('{"kind":"Pod","metadata":{"name":"made","uid":"u1"}}');
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends each call to its path, with the body as JSON and the connection\'s credentials, and returns the answer', async () => {
    const core = coreCalls(api);
    const custom = customObjectCalls(api);
    const made = await core.createNamespacedPod({ namespace: 'team a', body: { metadata: { name: 'p' } } });
    expect(made).to.deep.equal({ kind: 'Pod', metadata: { name: 'made', uid: 'u1' } });
    await core.deleteNamespacedPod({ namespace: 'ns', name: 'p', gracePeriodSeconds: 0 });
    await core.deleteNamespacedPod({ namespace: 'ns', name: 'q', body: { preconditions: { uid: 'u1' } } });
    await custom.patchNamespacedCustomObjectStatus({ group: 'image-locality.dev', version: 'v1alpha1', plural: 'imagecaches', namespace: 'ns', name: 'c', body: { status: { nodes: '1/2' } } });
    await leaseCalls(api).replace('ns', 'lease', { metadata: { name: 'lease', resourceVersion: '7' } }, new AbortController().signal);
    expect(seen).to.deep.equal([
      { method: 'POST', url: '/api/v1/namespaces/team%20a/pods', contentType: 'application/json', authorization: 'Bearer t', body: { metadata: { name: 'p' } } },
      { method: 'DELETE', url: '/api/v1/namespaces/ns/pods/p?gracePeriodSeconds=0', contentType: undefined, authorization: 'Bearer t', body: undefined },
      { method: 'DELETE', url: '/api/v1/namespaces/ns/pods/q', contentType: 'application/json', authorization: 'Bearer t', body: { preconditions: { uid: 'u1' } } },
      {
        method: 'PATCH',
        url: '/apis/image-locality.dev/v1alpha1/namespaces/ns/imagecaches/c/status',
        contentType: 'application/merge-patch+json',
        authorization: 'Bearer t',
        body: { status: { nodes: '1/2' } },
      },
      { method: 'PUT', url: '/apis/coordination.k8s.io/v1/namespaces/ns/leases/lease', contentType: 'application/json', authorization: 'Bearer t', body: { metadata: { name: 'lease', resourceVersion: '7' } } },
    ]);
  });

  it('pages a pod list with the server\'s continue token, named as the generated model names it', async () => {
    answer = (_req, res) => res.end(JSON.stringify({ metadata: { continue: 'tok' }, items: [{ metadata: { name: 'p1' } }] }));
    const page = await coreCalls(api).listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=', limit: 500, _continue: 'prev' });
    expect(page.items).to.deep.equal([{ metadata: { name: 'p1' } }]);
    expect(page.metadata?._continue).to.equal('tok');
    expect(new URL(seen[0]?.url as string, 'http://x').searchParams.get('continue')).to.equal('prev');
  });

  it('rejects a non-2xx answer with an ApiError carrying the status and the body', async () => {
    answer = (_req, res) => {
      res.writeHead(409);
      res.end(JSON.stringify({ kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'imagecaches "c" already exists' }));
    };
    const err = await customObjectCalls(api)
      .createNamespacedCustomObject({ group: 'g', version: 'v', plural: 'p', namespace: 'ns', body: {} })
      .then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ApiError);
    expect((err as ApiError).code).to.equal(409);
    expect((err as ApiError).message).to.contain('already exists');
    expect(JSON.parse((err as ApiError).body).reason).to.equal('AlreadyExists');
  });

  it('answers an empty 2xx body with undefined, and stops when its signal aborts', async () => {
    answer = (_req, res) => {
      res.writeHead(200);
      res.end();
    };
    expect(await api.call('DELETE', '/x')).to.equal(undefined);
    answer = () => undefined; // never answers
    const controller = new AbortController();
    const pending = leaseCalls(api).read('ns', 'l', controller.signal).then(() => 'answered', (e: unknown) => (e as Error).name);
    setTimeout(() => controller.abort(), 50);
    expect(await pending).to.equal('AbortError');
  });

  it('has at most maxInFlight calls under way; the others wait their turn and then go out', async () => {
    const limited = new ApiClient({ getCurrentCluster: () => ({ server: base }), applyToHTTPSOptions: async () => undefined }, 10_000, 2);
    let open = 0;
    let most = 0;
    answer = (_req, res) => {
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        res.end('{}');
      }, 30);
    };
    const answers = await Promise.all(Array.from({ length: 7 }, (_, i) => limited.call('POST', `/x/${i}`, { body: { i } })));
    expect(answers).to.have.length(7);
    expect(most).to.equal(2);
    expect(seen.map((s) => s.url).sort()).to.deep.equal(Array.from({ length: 7 }, (_, i) => `/x/${i}`));
  });
});
