// Smoke test of the real control plane: a Pod is bound by the real kube-scheduler
// to a Node that exists only as an API object (there is no kubelet).
import { expect } from 'chai';
import fs from 'node:fs';
import { CoreV1Api, KubeConfig, PatchStrategy, VersionApi, setHeaderOptions } from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { isRunning, startControlPlane } from './control-plane.js';
import type { ControlPlane } from './control-plane.js';

describe('e2e control plane (etcd + kube-apiserver + kube-scheduler)', function () {
  // Binaries are expected to be cached (build.sh); a cold build takes far longer
  // and is done by controlPlaneBinDir() inside before().
  this.timeout(120_000);

  let cp: ControlPlane | undefined;
  let core: CoreV1Api;

  before(async function () {
    this.timeout(60 * 60_000); // first run may build the binaries
    cp = await startControlPlane({ log: (l) => process.env['CP_DEBUG'] && console.error(`    [cp] ${l}`) });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
  });

  after(async function () {
    const dir = cp?.dir;
    const procs = cp?.processes ?? [];
    await cp?.stop();
    expect(procs.filter(isRunning), 'processes left running').to.deep.equal([]);
    if (dir) expect(fs.existsSync(dir), 'state dir removed').to.equal(false);
  });

  it('serves the pinned release with a CA-verified kubeconfig', async function () {
    const kc = new KubeConfig();
    kc.loadFromFile(cp!.kubeconfigPath);
    expect(kc.getCurrentCluster()?.skipTLSVerify ?? false).to.equal(false);
    const v = await kc.makeApiClient(VersionApi).getCode();
    expect(v.gitVersion).to.match(/^v1\.\d+\.\d+$/);
  });

  it('schedules a pod onto a fake node', async function () {
    const ns = 'smoke';
    await core.createNamespace({ body: { metadata: { name: ns } } });

    const nodeName = 'fake-node-1';
    const node: V1Node = { metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } };
    const created = await core.createNode({ body: node });
    // TaintNodesByCondition is disabled, so no not-ready taint is added.
    expect(created.spec?.taints ?? []).to.deep.equal([]);

    // What a kubelet would report; the scheduler needs allocatable and Ready.
    const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
    await core.patchNodeStatus(
      {
        name: nodeName,
        body: {
          status: {
            capacity,
            allocatable: capacity,
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'fake kubelet',
                lastHeartbeatTime: new Date(),
                lastTransitionTime: new Date(),
              },
            ],
            images: [{ names: ['registry.example/app:1'], sizeBytes: 50_000_000 }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const patched = await core.readNodeStatus({ name: nodeName });
    expect(patched.status?.images?.[0]?.names).to.deep.equal(['registry.example/app:1']);

    const pod: V1Pod = {
      metadata: { name: 'smoke-pod', namespace: ns },
      spec: {
        containers: [
          { name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });

    const deadline = Date.now() + 60_000;
    let bound: V1Pod | undefined;
    while (Date.now() < deadline) {
      const p = await core.readNamespacedPod({ name: 'smoke-pod', namespace: ns });
      if (p.spec?.nodeName) {
        bound = p;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(bound?.spec?.nodeName, 'pod bound by kube-scheduler').to.equal(nodeName);
  });
});
