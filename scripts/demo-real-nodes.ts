// `npm run demo -- --real-nodes`: the same story as the default demo, on real
// kubelets. Three nodes (kubelet + containerd each) in a network namespace made for
// the run, images made on this machine and served by a local registry behind a
// bandwidth-limited link. It shows an ImageCache pulling a shell-less and a private
// image with real pulls, the kubelet reporting them, the next pod steered there, and
// then measured create-to-Running times of a burst of pods of a large image without
// and with image-locality. Needs root and the Debian packages .ci/run installs.
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { createNamespace, createPod, eventually } from '../test/e2e/support/cluster-objects.js';
import { preferredNodeNames, setPolicy } from '../test/e2e/support/harness.js';
import { applyImageCacheCrd } from '../test/e2e/support/imagecache-crd.js';
import { startLab, type Lab } from '../test/e2e/real-node/lab.js';
import { startLabImageLocality, type LabImageLocality } from '../test/e2e/real-node/lab-webhook.js';
import { missingForRealNodes } from '../test/e2e/real-node/requirements.js';
import { measureStartTimes, summarize, waitListed } from '../test/e2e/real-node/start-times.js';

const t0 = Date.now();
function say(line: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
}

async function story(lab: Lab): Promise<void> {
  const core = lab.kc.makeApiClient(CoreV1Api);
  const custom = lab.kc.makeApiClient(CustomObjectsApi);
  for (const n of (await core.listNode()).items) {
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    say(`node ${n.metadata?.name} Ready at ${ip} (kubelet ${n.status?.nodeInfo?.kubeletVersion}, ${n.status?.nodeInfo?.containerRuntimeVersion})`);
  }
  await createNamespace(lab.kc, 'team', true);
  const { username, password } = lab.privateCredentials;
  const registry = lab.images.private.ref.split('/')[0]!;
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  await core.createNamespacedSecret({
    namespace: 'team',
    body: {
      metadata: { name: 'pull', namespace: 'team' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [registry]: { username, password, auth } } })).toString('base64') },
    },
  });
  const images = [lab.images.shellLess.ref, lab.images.private.ref];
  say(`ImageCache team/tools: ${images.join(', ')} onto lab-node-2 (a shell-less image and a private one)`);
  await custom.createNamespacedCustomObject({
    group: 'image-locality.dev',
    version: 'v1alpha1',
    plural: 'imagecaches',
    namespace: 'team',
    body: {
      apiVersion: 'image-locality.dev/v1alpha1',
      kind: 'ImageCache',
      metadata: { name: 'tools', namespace: 'team' },
      spec: { images, nodeSelector: { 'kubernetes.io/hostname': 'lab-node-2' }, imagePullSecrets: [{ name: 'pull' }] },
    },
  });
  await eventually('both images cached', async () => {
    const c = (await custom.getNamespacedCustomObject({ group: 'image-locality.dev', version: 'v1alpha1', plural: 'imagecaches', namespace: 'team', name: 'tools' })) as {
      status?: { images?: Array<{ cachedNodes: number }> };
    };
    return c.status?.images?.length === 2 && c.status.images.every((i) => i.cachedNodes === 1) ? true : undefined;
  }, 180_000, 1000);
  say('ImageCache status: both images cached on lab-node-2 (real pulls by the kubelet, exit binary run inside the shell-less image)');
  say('waiting for the kubelet to list them in node status (it refreshes its image list every 30 s)');
  for (const ref of images) await waitListed(lab.kc, 'lab-node-2', ref, true);
  const pod = await createPod(lab.kc, { metadata: { name: 'next', namespace: 'team' }, spec: { containers: [{ name: 'c', image: lab.images.shellLess.ref }] } });
  say(`next pod of ${lab.images.shellLess.ref}: webhook prefers ${preferredNodeNames(pod).join(', ') || '(nothing)'}`);
  const bound = await eventually('the pod to run', async () => {
    const p = await core.readNamespacedPod({ name: 'next', namespace: 'team' });
    return p.status?.phase === 'Running' ? p : undefined;
  }, 60_000, 500);
  say(`it runs on ${bound.spec?.nodeName}`);

  const big = lab.images['big']!;
  say(`start times: bursts of 6 pods of ${big.ref} (${(big.bytes / 1e6).toFixed(0)} MB) at ${lab.megabytesPerSecond} MB/s per node, one node warm`);
  const results = await measureStartTimes(lab, { image: big.ref, pods: 6, log: say });
  for (const r of results) {
    const s = summarize(r.ms);
    say(`${r.arm.padEnd(8)} p50 ${(s.p50 / 1000).toFixed(1)} s, max ${(s.max / 1000).toFixed(1)} s, pods per node ${JSON.stringify(r.nodes)}`);
  }
}

export async function runRealNodeDemo(opts: { once: boolean }): Promise<number> {
  const missing = missingForRealNodes();
  if (missing.length > 0) {
    process.stderr.write(`demo --real-nodes needs ${missing.join('; ')}; plain \`npm run demo\` runs without them\n`);
    return 2;
  }
  const lab = await startLab({ nodes: 3, large: { big: { layers: 3, layerBytes: 64_000_000 } }, log: say });
  let webhook: LabImageLocality | undefined;
  try {
    await applyImageCacheCrd(lab.kc);
    await createNamespace(lab.kc, 'image-locality', false);
    await setPolicy(lab.kc.makeApiClient(CoreV1Api), ['warm:', '  minNodes: 3', 'affinity:', '  minScore: 0'].join('\n'));
    webhook = await startLabImageLocality(lab);
    say('image-locality serve (admission) and controller (warming) running; webhook registered with the apiserver inside the lab');
    await story(lab);
    if (!opts.once) {
      say(`lab stays up: KUBECONFIG=${lab.kubeconfigPath} kubectl get nodes,pods -A (Ctrl-C to stop and clean up)`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    return 0;
  } finally {
    await webhook?.kill();
    await lab.stop();
    say('lab stopped; machine settings restored');
  }
}
