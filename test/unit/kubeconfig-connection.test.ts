import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectionFromEnvironment, connectionFromKubeconfig, type ConnectionSource } from '../../src/cluster/kubeconfig-connection.js';

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'other', cluster: { server: 'https://wrong' } }, { name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  });
}

async function optionsOf(source: ConnectionSource): Promise<RequestOptions> {
  if (!('connection' in source)) throw new Error(`unsupported: ${source.unsupported}`);
  const options: RequestOptions = { headers: { Accept: 'application/json' } };
  await source.connection.applyToHTTPSOptions(options);
  return options;
}

describe('cluster connection without the generated client', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'kubeconfig-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the current context: server, inline CA, token; keeps the request\'s own headers', async () => {
    const source = connectionFromKubeconfig(
      kubeconfig({ server: 'https://127.0.0.1:6443/', 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') }, { token: 'secret-token' }),
      join(dir, 'config'),
    );
    expect('connection' in source && source.connection.getCurrentCluster().server).to.equal('https://127.0.0.1:6443');
    const options = await optionsOf(source);
    expect(String(options.ca)).to.equal('CA PEM');
    expect(options.headers).to.deep.equal({ Accept: 'application/json', Authorization: 'Bearer secret-token' });
    expect(options.rejectUnauthorized).to.equal(undefined);
  });

  it('reads client certificate files relative to the kubeconfig, and TLS settings', async () => {
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'client.crt'), 'CERT');
    writeFileSync(join(dir, 'pki', 'client.key'), 'KEY');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    const source = connectionFromKubeconfig(
      kubeconfig(
        { server: 'https://h:1', 'certificate-authority': 'ca.crt', 'insecure-skip-tls-verify': true, 'tls-server-name': 'kubernetes' },
        { 'client-certificate': 'pki/client.crt', 'client-key': join(dir, 'pki', 'client.key') },
      ),
      join(dir, 'config'),
    );
    const options = await optionsOf(source);
    expect([String(options.ca), String(options.cert), String(options.key)]).to.deep.equal(['CA', 'CERT', 'KEY']);
    expect(options.rejectUnauthorized).to.equal(false);
    expect(options.servername).to.equal('kubernetes');
    expect(options.headers).to.deep.equal({ Accept: 'application/json' });
  });

  it('reads a token file again for each request, as projected tokens rotate', async () => {
    writeFileSync(join(dir, 'token'), 'first\n');
    const source = connectionFromKubeconfig(kubeconfig({ server: 'https://h' }, { tokenFile: 'token' }), join(dir, 'config'));
    expect((await optionsOf(source)).headers).to.deep.include({ Authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second');
    expect((await optionsOf(source)).headers).to.deep.include({ Authorization: 'Bearer second' });
  });

  const unsupported: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
    ['an exec credential plugin', { server: 'https://h' }, { exec: { command: 'aws' } }, /user exec/],
    ['an auth provider', { server: 'https://h' }, { 'auth-provider': { name: 'oidc' } }, /user auth-provider/],
    ['a password', { server: 'https://h' }, { username: 'a', password: 'b' }, /user username/],
    ['impersonation', { server: 'https://h' }, { token: 't', as: 'someone' }, /user as/],
    ['a proxy', { server: 'https://h', 'proxy-url': 'http://proxy:3128' }, { token: 't' }, /cluster proxy-url/],
  ];
  for (const [what, cluster, user, reason] of unsupported) {
    it(`leaves ${what} to the full client`, () => {
      const source = connectionFromKubeconfig(kubeconfig(cluster, user), join(dir, 'config'));
      expect('unsupported' in source && source.unsupported).to.match(reason);
    });
  }

  it('names what is missing in a broken kubeconfig', () => {
    expect(() => connectionFromKubeconfig('{"current-context":"x","contexts":[]}', '/k')).to.throw('kubeconfig /k: context "x" not found');
    expect(() => connectionFromKubeconfig(kubeconfig({}, { token: 't' }), '/k')).to.throw(/has no server/);
    expect(() => connectionFromKubeconfig('{{{', '/k')).to.throw(/kubeconfig \/k: not YAML/);
    expect(() => connectionFromKubeconfig('just text', '/k')).to.throw(/not a kubeconfig/);
  });

  it('follows the client\'s precedence: KUBECONFIG, then ~/.kube/config, then in-cluster credentials', async () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'in-cluster-token');
    writeFileSync(join(sa, 'ca.crt'), 'SA CA');
    const home = join(dir, 'home');
    const inCluster = await connectionFromEnvironment({ HOME: home, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    expect('connection' in inCluster && inCluster.connection.getCurrentCluster().server).to.equal('https://[fd00::1]:443');
    const options = await optionsOf(inCluster);
    expect([String(options.ca), (options.headers as Record<string, string>)['Authorization']]).to.deep.equal(['SA CA', 'Bearer in-cluster-token']);

    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), kubeconfig({ server: 'https://home' }, { token: 't' }));
    const fromHome = await connectionFromEnvironment({ HOME: home, KUBERNETES_SERVICE_HOST: '10.0.0.1' }, sa);
    expect('connection' in fromHome && fromHome.connection.getCurrentCluster().server).to.equal('https://home');

    writeFileSync(join(dir, 'explicit'), kubeconfig({ server: 'https://explicit' }, { token: 't' }));
    const explicit = await connectionFromEnvironment({ HOME: home, KUBECONFIG: join(dir, 'explicit') }, sa);
    expect('connection' in explicit && explicit.connection.getCurrentCluster().server).to.equal('https://explicit');

    const several = await connectionFromEnvironment({ KUBECONFIG: `${join(dir, 'explicit')}:${join(dir, 'other')}` }, sa);
    expect(several).to.deep.equal({ unsupported: 'KUBECONFIG names several files' });
    const nothing = await connectionFromEnvironment({ HOME: join(dir, 'nowhere'), KUBERNETES_SERVICE_HOST: '10.0.0.1' }, join(dir, 'no-sa'));
    expect('unsupported' in nothing).to.equal(true);
  });
});
