import type { V1Container, V1ContainerStatus, V1Pod, V1SecurityContext } from '@kubernetes/client-node';
import { ANNOTATION_PREFIX } from '../annotations.js';
import { normalizeImage } from '../images/reference.js';
import { stableHash } from './demand.js';
import { IMAGECACHE_API_VERSION, IMAGECACHE_KIND } from './imagecache.js';
import type { PlannedPull, PullKey } from './planner.js';
import type { CacheRef } from './warm-spec.js';

/**
 * The pre-pull pod: one short-lived pod per (image, node) that makes the node's
 * kubelet pull the image, then exits. Using the kubelet (rather than talking to the
 * runtime from a privileged DaemonSet) means the pull goes through the node's own
 * credential providers, registry mirrors and image GC accounting, with the pod's
 * own pull secrets, and needs no privileges at all.
 *
 * The image to warm may have no shell and no binary at all (distroless, scratch,
 * data-only images), so the pod cannot run anything from it. An init container
 * from the product's own image copies a tiny static binary (tools/exit0) into a
 * shared emptyDir, and the main container runs the wanted image with that binary
 * as its command. The kubelet must pull the image to create the container; the
 * binary exits 0 at once; the pod succeeds; the image stays in the node's cache.
 */

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'image-locality';
export const PRE_PULL_LABEL = `${ANNOTATION_PREFIX}/pre-pull`;
/** stableHash of the (image, node) pair: finds the pod for a pair without reading every pod. */
export const PULL_KEY_LABEL = `${ANNOTATION_PREFIX}/pull-key`;
/** Which installation created the pod, when several share a cluster (see Trust in controller.ts). */
export const INSTALLATION_LABEL = `${ANNOTATION_PREFIX}/installation`;
export const IMAGE_KEY_ANNOTATION = `${ANNOTATION_PREFIX}/image-key`;
export const IMAGE_ANNOTATION = `${ANNOTATION_PREFIX}/image`;
export const NODE_ANNOTATION = `${ANNOTATION_PREFIX}/node`;
export const SOURCE_ANNOTATION = `${ANNOTATION_PREFIX}/source`;
/** Label selector for listing/watching pre-pull pods. */
export const PRE_PULL_SELECTOR = `${PRE_PULL_LABEL}=true`;
export const PRE_PULL_GENERATE_NAME = 'image-locality-prepull-';

export const HELPER_CONTAINER = 'copy-exit';
export const PULL_CONTAINER = 'pull';
export const HELPER_BINARY = '/usr/local/bin/image-locality-exit0';
export const SHARED_DIR = '/image-locality';
export const SHARED_BINARY = `${SHARED_DIR}/exit0`;
const SHARED_VOLUME = 'image-locality';
/** The distroless "nonroot" user; any non-zero id would do, this one is conventional. */
export const NONROOT_UID = 65532;

export interface PrePullPodOptions {
  /** The product's own image, which ships HELPER_BINARY. */
  helperImage: string;
  /** activeDeadlineSeconds: the whole pull must finish within it (policy warm.pullTimeoutSeconds, 1800 by default, for multi-GB images). */
  deadlineSeconds: number;
  /** Value of INSTALLATION_LABEL: this installation's id; must be a valid, non-empty label value. */
  installation: string;
  /** The ImageCache the pull is for: the pod's owner, in the same namespace. */
  owner: CacheRef;
  /** imagePullPolicy Always, to refresh a mutable tag (':latest') the node may hold an old copy of. */
  alwaysPull?: boolean;
}

/** The label value for a pair: 16 hex digits, well inside the 63-character limit. */
export function pullKeyLabelValue(k: PullKey): string {
  return stableHash(`${k.imageKey}|${k.node}`);
}

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function securityContext(): V1SecurityContext {
  // Everything Pod Security "restricted" asks for, and then read-only root: the
  // containers write only to the emptyDir.
  return {
    runAsNonRoot: true,
    runAsUser: NONROOT_UID,
    runAsGroup: NONROOT_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Requests and limits both set: namespaces with a ResourceQuota on limits accept the pod, and it cannot hog the node. */
function resources(): V1Container['resources'] {
  return {
    requests: { cpu: '10m', memory: '16Mi' },
    limits: { cpu: '50m', memory: '32Mi' },
  };
}

/**
 * The pod that warms `p.image` on `p.node`. Created with generateName, so the API
 * server picks a unique name; the pair is found again through PULL_KEY_LABEL and the
 * annotations (see prePullKey).
 */
export function buildPrePullPod(p: PlannedPull, opts: PrePullPodOptions): V1Pod {
  if (opts.installation === '' || !LABEL_VALUE.test(opts.installation)) {
    throw new RangeError(`installation ${JSON.stringify(opts.installation)} is not a valid, non-empty label value`);
  }
  if (opts.owner.namespace !== p.namespace || opts.owner.uid === '') {
    throw new RangeError(`a pre-pull pod in ${p.namespace} cannot be owned by ImageCache ${opts.owner.namespace}/${opts.owner.name} (uid ${JSON.stringify(opts.owner.uid)})`);
  }
  const deadline = Math.max(1, Math.floor(Number.isFinite(opts.deadlineSeconds) ? opts.deadlineSeconds : 1800));
  const labels: Record<string, string> = {
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    [PRE_PULL_LABEL]: 'true',
    [PULL_KEY_LABEL]: pullKeyLabelValue(p),
    [INSTALLATION_LABEL]: opts.installation,
  };
  const mount = { name: SHARED_VOLUME, mountPath: SHARED_DIR };

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: PRE_PULL_GENERATE_NAME,
      namespace: p.namespace,
      labels,
      // With a garbage collector (kube-controller-manager), deleting the cache
      // deletes its pods; the controller also deletes them itself (see controller.ts).
      ownerReferences: [
        { apiVersion: IMAGECACHE_API_VERSION, kind: IMAGECACHE_KIND, name: opts.owner.name, uid: opts.owner.uid, controller: true },
      ],
      annotations: {
        [IMAGE_KEY_ANNOTATION]: p.imageKey,
        [IMAGE_ANNOTATION]: p.image,
        [NODE_ANNOTATION]: p.node,
        [SOURCE_ANNOTATION]: p.source,
        // A bare pod with an emptyDir blocks the cluster autoscaler from removing
        // its node; a pull is never a reason to keep a node.
        'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true',
      },
    },
    spec: {
      // Bound directly: the scheduler is bypassed, the pod goes to exactly this node.
      nodeName: p.node,
      // The helper binary is Linux-only; on a Windows node the kubelet rejects the pod
      // at once instead of trying, and the API server checks the Linux-only fields.
      os: { name: 'linux' },
      restartPolicy: 'Never',
      activeDeadlineSeconds: deadline,
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(p.pullSecrets.length > 0 ? { imagePullSecrets: p.pullSecrets.map((name) => ({ name })) } : {}),
      // Tolerate every taint. Which node the pod may use was decided already: the
      // node is eligible for the pods (or ImageCache) that want the image, under their
      // own tolerations, and nodeName binds the pod there. The blanket toleration
      // only stops the kubelet's admission and the taint manager from rejecting or
      // evicting it for NoExecute taints that the wanting pods tolerate (a dedicated
      // GPU pool, say). activeDeadlineSeconds bounds how long it can stay.
      tolerations: [{ operator: 'Exists' }],
      securityContext: {
        runAsNonRoot: true,
        runAsUser: NONROOT_UID,
        runAsGroup: NONROOT_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: [
        {
          name: HELPER_CONTAINER,
          image: opts.helperImage,
          imagePullPolicy: 'IfNotPresent',
          // The helper image is distroless too (no cp), so the binary copies itself.
          command: [HELPER_BINARY, 'install', SHARED_BINARY],
          workingDir: SHARED_DIR,
          resources: resources(),
          securityContext: securityContext(),
          volumeMounts: [mount],
        },
      ],
      containers: [
        {
          name: PULL_CONTAINER,
          image: p.image,
          imagePullPolicy: opts.alwaysPull ? 'Always' : 'IfNotPresent',
          // With a command and no args the image's ENTRYPOINT and CMD are both ignored.
          command: [SHARED_BINARY],
          // The image's WORKDIR may not exist, and a read-only root could not create it.
          workingDir: SHARED_DIR,
          resources: resources(),
          securityContext: securityContext(),
          volumeMounts: [{ ...mount, readOnly: true }],
        },
      ],
      // Memory-backed: nothing is written to the node's disk; the limit leaves room
      // for the one static binary and nothing else.
      volumes: [{ name: SHARED_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } }],
    },
  };
}

/**
 * The (image, node) pair a pre-pull pod really works on: the pull container's
 * image and the node it is bound to, read from the spec (what the kubelet acts
 * on), never from annotations anyone could write. Undefined if it is not one.
 */
export function prePullKey(pod: V1Pod): PullKey | undefined {
  const node = pod?.spec?.nodeName;
  const containers = Array.isArray(pod?.spec?.containers) ? pod.spec.containers : [];
  const image = containers.find((c) => c?.name === PULL_CONTAINER)?.image;
  if (typeof image !== 'string' || typeof node !== 'string' || node === '') return undefined;
  const imageKey = normalizeImage(image);
  return imageKey === undefined ? undefined : { imageKey, node };
}

/** The ImageCache a pod names as its controlling owner (uid and name; same namespace as the pod). */
export function prePullOwner(pod: V1Pod): { uid: string; name: string } | undefined {
  const refs = Array.isArray(pod?.metadata?.ownerReferences) ? pod.metadata.ownerReferences : [];
  const ref = refs.find((r) => r?.controller === true && r.kind === IMAGECACHE_KIND && r.apiVersion === IMAGECACHE_API_VERSION);
  return ref && typeof ref.uid === 'string' && ref.uid !== '' ? { uid: ref.uid, name: ref.name } : undefined;
}

// ---------------------------------------------------------------------------
// Reading the outcome

export type PrePullState = 'pending' | 'pulling' | 'cached' | 'failed';

export interface PrePullOutcome {
  state: PrePullState;
  /**
   * Short, stable cause ('ErrImagePull', 'DeadlineExceeded', ...): what backoff
   * compares to decide whether a failure is news. Also set for some 'cached'
   * outcomes that were not a clean exit.
   */
  reason?: string;
  /** The kubelet's human-readable detail, e.g. the registry's error. */
  message?: string;
  /**
   * For 'failed': what failed. Only 'image' says something about the wanted image
   * (report it, back off this pair). 'helper' is the product's own image failing
   * (every pull will fail the same way: fix the installation), 'pod' is the node or
   * the pod (evicted, rejected by the kubelet): retry, no blame on the image.
   */
  blame?: 'image' | 'helper' | 'pod';
}

/** Waiting reasons that mean the kubelet could not get the image (kubelet/images/types.go). */
const PULL_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'RegistryUnavailable',
  'ImageInspectError',
  'SignatureValidationFailed',
]);

/**
 * Waiting reasons the kubelet only reaches after the image is present: it pulls
 * first, then builds the container config, creates and starts the container
 * (kuberuntime startContainer). The image is cached even though the pod will fail.
 */
const AFTER_PULL_REASONS: ReadonlySet<string> = new Set([
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreStartHookError',
]);

function findStatus(list: V1ContainerStatus[] | undefined, name: string): V1ContainerStatus | undefined {
  return Array.isArray(list) ? list.find((s) => s?.name === name) : undefined;
}

function withMessage(outcome: PrePullOutcome, message: string | undefined): PrePullOutcome {
  return typeof message === 'string' && message !== '' ? { ...outcome, message } : outcome;
}

/**
 * What a pre-pull pod's status says about the pull. Tolerates any partial status.
 *
 * - cached: the pod succeeded, or the wanted image's container was running or
 *   exited 0, or got as far as creating the container (the kubelet pulls first).
 *   A non-zero exit also counts when the container really existed (it has a
 *   containerID): the image was needed to create it.
 * - failed: the wanted image could not be pulled (blame 'image'), the helper could
 *   not be pulled or failed (blame 'helper'), or the pod failed for another reason:
 *   DeadlineExceeded is blamed on whichever stage was running, anything else
 *   (Evicted, rejected at admission) on 'pod'.
 * - pulling: the kubelet is creating the wanted container (pulling its image).
 * - pending: not started yet, or still in the helper stage.
 */
export function prePullOutcome(pod: V1Pod): PrePullOutcome {
  const status = pod?.status ?? {};
  const phase = status.phase;
  const main = findStatus(status.containerStatuses, PULL_CONTAINER);
  const init = findStatus(status.initContainerStatuses, HELPER_CONTAINER);

  if (phase === 'Succeeded') return { state: 'cached' };

  const mainState = main?.state;
  if (mainState?.running) return { state: 'cached' };
  const done = mainState?.terminated;
  if (done) {
    if (done.exitCode === 0) return { state: 'cached' };
    // A container that never existed is reported as terminated too when its pod
    // fails (reason ContainerStatusUnknown, no containerID); that says nothing.
    if (done.containerID && done.reason !== 'ContainerStatusUnknown') {
      return withMessage({ state: 'cached', reason: done.reason || `ExitCode${done.exitCode}` }, done.message);
    }
  }
  const waiting = mainState?.waiting;
  if (waiting?.reason && PULL_FAILURE_REASONS.has(waiting.reason)) {
    return withMessage({ state: 'failed', reason: waiting.reason, blame: 'image' }, waiting.message);
  }
  if (waiting?.reason && AFTER_PULL_REASONS.has(waiting.reason)) {
    return withMessage({ state: 'cached', reason: waiting.reason }, waiting.message);
  }

  const initWaiting = init?.state?.waiting;
  if (initWaiting?.reason && PULL_FAILURE_REASONS.has(initWaiting.reason)) {
    return withMessage({ state: 'failed', reason: initWaiting.reason, blame: 'helper' }, initWaiting.message);
  }
  const initDone = init?.state?.terminated;
  if (initDone && initDone.exitCode !== 0 && initDone.reason !== 'ContainerStatusUnknown') {
    return withMessage({ state: 'failed', reason: initDone.reason || 'HelperFailed', blame: 'helper' }, initDone.message);
  }

  if (phase === 'Failed') {
    const reason = status.reason || 'Failed';
    let blame: PrePullOutcome['blame'] = 'pod';
    if (reason === 'DeadlineExceeded') {
      // Out of time: whose stage was it? Past a clean helper exit, the wanted image's pull.
      if (initDone?.exitCode === 0) blame = 'image';
      else if (init) blame = 'helper';
    }
    return withMessage({ state: 'failed', reason, blame }, status.message);
  }

  if (waiting?.reason === 'ContainerCreating' || phase === 'Running') return { state: 'pulling' };
  return { state: 'pending' };
}
