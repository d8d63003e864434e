import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from '../e2e/control-plane/control-plane.js';
import { startController, writeUnreachableKubeconfig, type RunningController } from '../e2e/support/webhook-process.js';

const cli = () => join(repoRoot(), 'dist', 'src', 'cli.js');

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/**
 * `image-locality controller` is its own program: its flags, and its probes and
 * metrics on plain HTTP while the API server it points at is not there (it must
 * say so, never claim a view it has not listed, and stop cleanly on SIGTERM).
 */
describe('controller command', function () {
  this.timeout(60_000);

  it('prints its usage with --help and rejects a bad port with exit code 2', () => {
    const help = spawnSync(process.execPath, [cli(), 'controller', '--help'], { encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/Usage: image-locality controller/);
    const bad = spawnSync(process.execPath, [cli(), 'controller', '--port', 'x'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--port must be an integer/);
    const id = spawnSync(process.execPath, [cli(), 'controller', '--installation', 'not a label'], { encoding: 'utf8' });
    expect(id.status).to.equal(2);
    expect(id.stderr).to.match(/--installation must be a label value/);
  });

  it('serve no longer takes warming flags: warming is the controller', () => {
    const res = spawnSync(process.execPath, [cli(), 'serve', '--warming', 'on'], { encoding: 'utf8' });
    expect(res.status).to.equal(2);
    expect(res.stderr).to.match(/warming/);
  });

  describe('pointed at an API server that is not there', () => {
    let controller: RunningController | undefined;

    before(async () => {
      const kubeconfig = await writeUnreachableKubeconfig();
      controller = await startController({ kubeconfigPath: kubeconfig });
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const health = await httpGet(controller.port, '/healthz').catch(() => undefined);
        if (health?.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    after(async () => {
      await controller?.kill();
    });

    it('is alive but not ready, and says why', async () => {
      const c = controller as RunningController;
      expect((await httpGet(c.port, '/healthz')).status).to.equal(200);
      const ready = await httpGet(c.port, '/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body).to.match(/waiting for first sync of nodes/);
    });

    it('serves its metrics, and is not the warming leader', async () => {
      const metrics = await httpGet((controller as RunningController).port, '/metrics');
      expect(metrics.status).to.equal(200);
      expect(metrics.body).to.match(/^image_locality_warm_leader 0$/m);
    });

    it('stops on SIGTERM with exit code 0', async () => {
      const c = controller as RunningController;
      await c.stop();
      expect(c.process.exitCode).to.equal(0);
    });
  });
});
