import { expect } from 'chai';
import type { V1Container, V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { PlannedPull } from '../../src/warm/planner.js';
import {
  HELPER_CONTAINER,
  PULL_CONTAINER,
  PULL_KEY_LABEL,
  buildPrePullPod,
  prePullKey,
  prePullOutcome,
  prePullOwner,
  pullKeyLabelValue,
} from '../../src/warm/prepull-pod.js';

const HELPER = 'ghcr.io/image-locality/image-locality:0.1.0';

const pull: PlannedPull = {
  imageKey: 'ghcr.io/acme/model:2024-06',
  node: 'gpu-node-7',
  image: 'ghcr.io/acme/model:2024-06',
  namespace: 'ml',
  pullSecrets: ['ghcr-cred', 'backup-cred'],
  source: 'demand',
};

const OWNER = { namespace: 'ml', name: 'models', uid: 'uid-models' };

function build(extra: Partial<Parameters<typeof buildPrePullPod>[1]> = {}, p: PlannedPull = pull): V1Pod {
  return buildPrePullPod(p, { helperImage: HELPER, deadlineSeconds: 1800, installation: 'prod', owner: OWNER, ...extra });
}

function containers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

describe('warm/prepull-pod', () => {
  describe('buildPrePullPod', () => {
    it('binds the pod to its node, in the namespace of the demand, with a generated name', () => {
      const pod = build();
      expect(pod.spec?.nodeName).to.equal('gpu-node-7');
      expect(pod.metadata?.namespace).to.equal('ml');
      expect(pod.metadata?.generateName).to.equal('image-locality-prepull-');
      expect(pod.metadata?.name).to.equal(undefined);
    });

    it('runs once, within the pull deadline, without token, service links or priority class', () => {
      const spec = build({ deadlineSeconds: 3600 }).spec;
      expect(spec?.restartPolicy).to.equal('Never');
      expect(spec?.activeDeadlineSeconds).to.equal(3600);
      expect(spec?.automountServiceAccountToken).to.equal(false);
      expect(spec?.enableServiceLinks).to.equal(false);
      expect(spec?.priorityClassName).to.equal(undefined);
      expect(spec?.os?.name).to.equal('linux');
    });

    it('uses the demand’s pull secrets, and sets none when there are none', () => {
      expect(build().spec?.imagePullSecrets).to.deep.equal([{ name: 'ghcr-cred' }, { name: 'backup-cred' }]);
      expect(build({}, { ...pull, pullSecrets: [] }).spec).to.not.have.property('imagePullSecrets');
    });

    it('tolerates every taint (it is bound to a node that was already judged eligible)', () => {
      expect(build().spec?.tolerations).to.deep.equal([{ operator: 'Exists' }]);
    });

    it('meets Pod Security "restricted" and more, at pod and container level', () => {
      const pod = build();
      expect(pod.spec?.securityContext).to.deep.include({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of containers(pod)) {
        expect(c.securityContext, c.name).to.deep.include({
          runAsNonRoot: true,
          runAsUser: 65532,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.securityContext?.privileged, c.name).to.equal(undefined);
      }
      expect(pod.spec?.hostNetwork).to.equal(undefined);
      expect(pod.spec?.hostPID).to.equal(undefined);
    });

    it('sets small requests and limits on both containers', () => {
      for (const c of containers(build())) {
        expect(c.resources, c.name).to.deep.equal({ requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '50m', memory: '32Mi' } });
      }
    });

    it('copies the exit binary in with the helper image, then runs it inside the wanted image', () => {
      const pod = build();
      const [init] = pod.spec?.initContainers ?? [];
      const [main] = pod.spec?.containers ?? [];
      expect(pod.spec?.initContainers).to.have.length(1);
      expect(pod.spec?.containers).to.have.length(1);
      expect(init).to.deep.include({
        name: HELPER_CONTAINER,
        image: HELPER,
        command: ['/usr/local/bin/image-locality-exit0', 'install', '/image-locality/exit0'],
      });
      expect(init?.volumeMounts).to.deep.equal([{ name: 'image-locality', mountPath: '/image-locality' }]);
      expect(main).to.deep.include({
        name: PULL_CONTAINER,
        image: 'ghcr.io/acme/model:2024-06',
        imagePullPolicy: 'IfNotPresent',
        command: ['/image-locality/exit0'],
        workingDir: '/image-locality',
      });
      // No args: the image's own ENTRYPOINT and CMD are ignored entirely.
      expect(main).to.not.have.property('args');
      expect(main?.volumeMounts).to.deep.equal([{ name: 'image-locality', mountPath: '/image-locality', readOnly: true }]);
      expect(pod.spec?.volumes).to.deep.equal([{ name: 'image-locality', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } }]);
    });

    it('pulls Always when asked to refresh a mutable tag', () => {
      expect(build({ alwaysPull: true }).spec?.containers[0]?.imagePullPolicy).to.equal('Always');
    });

    it('labels the pod with its installation, is owned by its ImageCache, and records the pair in annotations', () => {
      const pod = build({ installation: 'prod-release' });
      expect(pod.metadata?.labels).to.deep.equal({
        'app.kubernetes.io/managed-by': 'image-locality',
        'image-locality.dev/pre-pull': 'true',
        'image-locality.dev/pull-key': pullKeyLabelValue(pull),
        'image-locality.dev/installation': 'prod-release',
      });
      expect(pod.metadata?.ownerReferences).to.deep.equal([
        { apiVersion: 'image-locality.dev/v1alpha1', kind: 'ImageCache', name: 'models', uid: 'uid-models', controller: true },
      ]);
      expect(prePullOwner(pod)).to.deep.equal({ uid: 'uid-models', name: 'models' });
      expect(pod.metadata?.annotations).to.deep.include({
        'image-locality.dev/image-key': pull.imageKey,
        'image-locality.dev/image': pull.image,
        'image-locality.dev/node': 'gpu-node-7',
        'image-locality.dev/source': 'demand',
        'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true',
      });
      expect(prePullKey(pod)).to.deep.equal({ imageKey: pull.imageKey, node: 'gpu-node-7' });
      expect(prePullKey({ metadata: {} })).to.equal(undefined);
    });

    it('reads the pair from what the kubelet acts on (spec), not from annotations anyone can write', () => {
      const pod = build();
      pod.metadata!.annotations!['image-locality.dev/image-key'] = 'docker.io/victim/app:1';
      pod.metadata!.annotations!['image-locality.dev/node'] = 'other-node';
      expect(prePullKey(pod)).to.deep.equal({ imageKey: pull.imageKey, node: 'gpu-node-7' });
    });

    it('makes a pull-key label that is label-safe, stable per pair, and different across pairs', () => {
      const long = { imageKey: `registry.example.com:5000/${'a'.repeat(200)}@sha256:${'0'.repeat(64)}`, node: 'n'.repeat(253) };
      const value = pullKeyLabelValue(long);
      expect(value).to.match(/^[a-z0-9]{1,63}$/);
      expect(build().metadata?.labels?.[PULL_KEY_LABEL]).to.equal(build().metadata?.labels?.[PULL_KEY_LABEL]);
      expect(pullKeyLabelValue({ ...pull, node: 'other' })).to.not.equal(pullKeyLabelValue(pull));
    });

    it('refuses an installation id that is not a valid, non-empty label value, and an owner in another namespace', () => {
      expect(() => build({ installation: 'has space' })).to.throw(RangeError);
      expect(() => build({ installation: 'x'.repeat(64) })).to.throw(RangeError);
      expect(() => build({ installation: '' })).to.throw(RangeError);
      expect(() => build({ owner: { ...OWNER, namespace: 'elsewhere' } })).to.throw(RangeError);
    });

    it('is plain data (survives a JSON round trip unchanged)', () => {
      const pod = build();
      expect(JSON.parse(JSON.stringify(pod))).to.deep.equal(pod);
    });
  });

  describe('prePullOutcome', () => {
    function withStatus(status: V1PodStatus): V1Pod {
      return { ...build(), status };
    }
    function main(state: V1ContainerStatus['state'], extra: Partial<V1ContainerStatus> = {}): V1ContainerStatus {
      return { name: PULL_CONTAINER, image: pull.image, imageID: '', ready: false, restartCount: 0, state, ...extra };
    }
    function helper(state: V1ContainerStatus['state']): V1ContainerStatus {
      return { name: HELPER_CONTAINER, image: HELPER, imageID: '', ready: false, restartCount: 0, state };
    }
    const helperDone = helper({ terminated: { exitCode: 0, reason: 'Completed', containerID: 'containerd://h' } });

    it('pending: no status yet, or the helper stage is still going', () => {
      expect(prePullOutcome(build())).to.deep.equal({ state: 'pending' });
      expect(prePullOutcome(withStatus({ phase: 'Pending' }))).to.deep.equal({ state: 'pending' });
      expect(
        prePullOutcome(
          withStatus({
            phase: 'Pending',
            initContainerStatuses: [helper({ running: {} })],
            containerStatuses: [main({ waiting: { reason: 'PodInitializing' } })],
          }),
        ),
      ).to.deep.equal({ state: 'pending' });
    });

    it('pulling: the wanted container is being created', () => {
      const status = { phase: 'Pending', initContainerStatuses: [helperDone], containerStatuses: [main({ waiting: { reason: 'ContainerCreating' } })] };
      expect(prePullOutcome(withStatus(status))).to.deep.equal({ state: 'pulling' });
      expect(prePullOutcome(withStatus({ phase: 'Running' }))).to.deep.equal({ state: 'pulling' });
    });

    it('cached: the pod succeeded', () => {
      expect(prePullOutcome(withStatus({ phase: 'Succeeded' }))).to.deep.equal({ state: 'cached' });
    });

    it('cached: the wanted container exited 0 or is running, whatever the phase says yet', () => {
      const exited = main({ terminated: { exitCode: 0, reason: 'Completed', containerID: 'containerd://m' } });
      expect(prePullOutcome(withStatus({ phase: 'Running', containerStatuses: [exited] }))).to.deep.equal({ state: 'cached' });
      expect(prePullOutcome(withStatus({ phase: 'Running', containerStatuses: [main({ running: {} })] }))).to.deep.equal({ state: 'cached' });
    });

    it('cached: the container existed but exited non-zero (the kubelet pulls before it creates)', () => {
      const crashed = main({ terminated: { exitCode: 128, reason: 'StartError', message: 'exec failed', containerID: 'containerd://m' } });
      expect(prePullOutcome(withStatus({ phase: 'Failed', containerStatuses: [crashed] }))).to.deep.equal({
        state: 'cached',
        reason: 'StartError',
        message: 'exec failed',
      });
      const configError = main({ waiting: { reason: 'CreateContainerError', message: 'no space' } });
      expect(prePullOutcome(withStatus({ phase: 'Pending', containerStatuses: [configError] }))).to.deep.include({ state: 'cached', reason: 'CreateContainerError' });
    });

    for (const reason of ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']) {
      it(`failed: ${reason} on the wanted image is the image's fault, with the kubelet's message`, () => {
        const message = `failed to pull "${pull.image}": 401 Unauthorized`;
        const status = { phase: 'Pending', initContainerStatuses: [helperDone], containerStatuses: [main({ waiting: { reason, message } })] };
        expect(prePullOutcome(withStatus(status))).to.deep.equal({ state: 'failed', reason, message, blame: 'image' });
      });
    }

    it('failed: DeadlineExceeded while pulling the wanted image blames the image', () => {
      const status: V1PodStatus = {
        phase: 'Failed',
        reason: 'DeadlineExceeded',
        message: 'Pod was active on the node longer than the specified deadline',
        initContainerStatuses: [helperDone],
        // A container that never started shows up as terminated, ContainerStatusUnknown, no containerID.
        containerStatuses: [main({ terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } })],
      };
      expect(prePullOutcome(withStatus(status))).to.deep.equal({
        state: 'failed',
        reason: 'DeadlineExceeded',
        message: 'Pod was active on the node longer than the specified deadline',
        blame: 'image',
      });
    });

    it('failed: DeadlineExceeded while the helper stage ran blames the helper', () => {
      const status = { phase: 'Failed', reason: 'DeadlineExceeded', initContainerStatuses: [helper({ waiting: { reason: 'PodInitializing' } })] };
      expect(prePullOutcome(withStatus(status))).to.deep.include({ state: 'failed', reason: 'DeadlineExceeded', blame: 'helper' });
    });

    it('failed: the helper image cannot be pulled, or the helper fails — not the wanted image’s fault', () => {
      const noHelper = { phase: 'Pending', initContainerStatuses: [helper({ waiting: { reason: 'ImagePullBackOff', message: 'not found' } })] };
      expect(prePullOutcome(withStatus(noHelper))).to.deep.equal({ state: 'failed', reason: 'ImagePullBackOff', message: 'not found', blame: 'helper' });
      const helperCrashed = { phase: 'Failed', initContainerStatuses: [helper({ terminated: { exitCode: 1, reason: 'Error', containerID: 'c://h' } })] };
      expect(prePullOutcome(withStatus(helperCrashed))).to.deep.include({ state: 'failed', reason: 'Error', blame: 'helper' });
    });

    it('failed: evicted or rejected pods blame the pod, not the image', () => {
      expect(prePullOutcome(withStatus({ phase: 'Failed', reason: 'Evicted', message: 'low on ephemeral-storage' }))).to.deep.equal({
        state: 'failed',
        reason: 'Evicted',
        message: 'low on ephemeral-storage',
        blame: 'pod',
      });
      expect(prePullOutcome(withStatus({ phase: 'Failed' }))).to.deep.equal({ state: 'failed', reason: 'Failed', blame: 'pod' });
    });

    it('copes with garbage status without throwing', () => {
      expect(prePullOutcome({} as V1Pod)).to.deep.equal({ state: 'pending' });
      expect(prePullOutcome({ status: { containerStatuses: 'nope' } } as unknown as V1Pod)).to.deep.equal({ state: 'pending' });
      expect(prePullOutcome({ status: { phase: 'Unknown' } })).to.deep.equal({ state: 'pending' });
    });
  });
});
