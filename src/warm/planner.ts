import { isBackingOff, type PullHistory } from './backoff.js';

export type { PullHistory } from './backoff.js';

/**
 * The warming planner: given what is wanted, what is already there and what is
 * already being pulled, decide which pulls to start now. Pure and deterministic:
 * the same input gives the same plan, so a tick can be replayed in a test.
 */

/** One image that should be warm on some nodes, and on whose behalf. */
export interface WantedImage {
  imageKey: string;
  /** Reference the pre-pull pod runs. */
  image: string;
  /** Namespace the pre-pull pod runs in (where `pullSecrets` live). */
  namespace: string;
  pullSecrets: string[];
  /** 'imagecache <ns>/<name>' or 'demand': for labels, events and logs. */
  source: string;
  /** Nodes in preference order; earlier nodes are pulled first. */
  targetNodes: string[];
}

export interface PullKey {
  imageKey: string;
  node: string;
}

export interface InFlightPull extends PullKey {
  startedAt: number;
}

export interface PlannerInput {
  now: number;
  /**
   * In priority order. The order breaks ties only: images take turns (see planPulls),
   * so an early entry cannot starve a later one.
   */
  wanted: WantedImage[];
  isPresent(imageKey: string, node: string): boolean;
  /** Pulls running now (pre-pull pods not yet finished). They use up the limits. */
  inFlight: InFlightPull[];
  /** Keyed by pullKeyString. */
  history: ReadonlyMap<string, PullHistory>;
  limits: { perNode: number; cluster: number };
  /** Schedulable now (not cordoned, Ready). */
  nodeUsable(node: string): boolean;
}

export interface PlannedPull extends PullKey {
  image: string;
  namespace: string;
  pullSecrets: string[];
  source: string;
}

export interface PlanResult {
  /** Pulls to start now, in the order they were granted. */
  start: PlannedPull[];
  /** Wanted pairs that could start but for the per-node or cluster-wide limit. */
  deferred: number;
  /** Wanted pairs waiting out a backoff after a failure. */
  backingOff: number;
  /** Wanted pairs already on their node (nothing to do). */
  present: number;
  /** Wanted pairs already being pulled. */
  inFlight: number;
  /** Wanted pairs on cordoned or NotReady nodes (skipped, not deferred). */
  unusable: number;
}

/**
 * Identity of an (image, node) pair as a map key. '|' cannot occur in a normalized
 * image key (reference grammar) nor in a node name (DNS subdomain), so the pair
 * can be read back unambiguously.
 */
export function pullKeyString(k: PullKey): string {
  return `${k.imageKey}|${k.node}`;
}

/** One turn-taking lane per image key; see planPulls. */
interface Lane {
  imageKey: string;
  /** First-appearance order in `wanted`: the tie-break. */
  index: number;
  /** Pulls of this image in flight plus those granted in this plan. */
  load: number;
  /**
   * Candidates as parallel arrays (node, and the want it came from), turned into
   * PlannedPull objects only when granted: at the policy maxima a plan sees a
   * million pairs and grants ten thousand.
   */
  nodes: string[];
  wants: WantedImage[];
  /**
   * node -> candidate index, or -1 for a pair that was skipped; dedupes pairs.
   * Made only when needed: the first want of a lane whose nodes are sorted and
   * distinct (the eligible nodes are) cannot repeat a pair, and most lanes have
   * one want. Until then `firstTargets` holds that want's nodes.
   */
  seen: Map<string, number> | undefined;
  firstTargets: readonly string[] | undefined;
  /** Pull secrets merged in from later wants in the same namespace, by candidate index. */
  extraSecrets: Map<number, Array<readonly unknown[]>> | undefined;
  next: number;
}

/**
 * Decide which (image, node) pulls to start now.
 *
 * - A pair is skipped if the image is already on the node, its pull is in flight,
 *   the node is unusable (cordoned/NotReady: nothing new will run there), or it is
 *   backing off after a failure (now < nextAttemptAt).
 * - At most `limits.perNode` pulls run on one node and `limits.cluster` in the whole
 *   cluster, counting the pulls already in flight. Limits protect the nodes' disks
 *   and network and the registry; lowering them below what is in flight simply
 *   starts nothing until enough pulls finish.
 * - Fairness: images take turns. Each grant goes to the image with the fewest pulls
 *   in flight (counting grants made in this plan), ties to the earlier one in
 *   `wanted`. With free capacity this is plain round-robin (image A node 1, image B
 *   node 1, A node 2, ...); when the limits are saturated tick after tick, it is still
 *   fair, because an image that holds many slots already comes last for the next free
 *   one. So an ImageCache of one image on 1,000 nodes cannot starve a demand for
 *   another image, nor the other way round. (A plain round-robin that restarted from
 *   the first wanted image every tick would give every freed slot to that image.)
 * - A pair listed by several wanted images is planned once, for the first one that
 *   lists it (its namespace, pull secrets and source): a pre-pull pod runs in one
 *   namespace and can only use Secrets from there. Pull secrets of later wants in the
 *   SAME namespace are merged in, since the kubelet tries every secret that matches
 *   the registry; secrets from other namespaces are not (they are not usable there,
 *   and borrowing another tenant's credentials would be wrong even if they were).
 */
export function planPulls(input: PlannerInput): PlanResult {
  const perNode = Math.max(0, Math.floor(input.limits.perNode));
  let clusterFree = Math.max(0, Math.floor(input.limits.cluster) - input.inFlight.length);

  const nodeLoad = new Map<string, number>();
  const imageLoad = new Map<string, number>();
  const flyingByImage = new Map<string, Set<string>>();
  for (const pull of input.inFlight) {
    // Every in-flight entry is a real pod using capacity, even a duplicate one.
    nodeLoad.set(pull.node, (nodeLoad.get(pull.node) ?? 0) + 1);
    imageLoad.set(pull.imageKey, (imageLoad.get(pull.imageKey) ?? 0) + 1);
    let flying = flyingByImage.get(pull.imageKey);
    if (!flying) flyingByImage.set(pull.imageKey, (flying = new Set()));
    flying.add(pull.node);
  }

  const usable = new Map<string, boolean>();
  const isUsable = (node: string): boolean => {
    let ok = usable.get(node);
    if (ok === undefined) {
      ok = input.nodeUsable(node);
      usable.set(node, ok);
    }
    return ok;
  };
  // History grouped by image once per plan: a key string per pair would cost a
  // string for each of the (up to a million) pairs a full pass plans.
  const historyByImage = new Map<string, Map<string, PullHistory>>();
  for (const [key, h] of input.history) {
    const bar = key.indexOf('|');
    if (bar < 0) continue;
    const imageKey = key.slice(0, bar);
    let perNode = historyByImage.get(imageKey);
    if (!perNode) historyByImage.set(imageKey, (perNode = new Map()));
    perNode.set(key.slice(bar + 1), h);
  }

  const result: PlanResult = { start: [], deferred: 0, backingOff: 0, present: 0, inFlight: 0, unusable: 0 };
  const lanes = new Map<string, Lane>();
  let candidates = 0;

  for (const want of input.wanted) {
    const imageKey = want.imageKey;
    let lane = lanes.get(imageKey);
    if (!lane) {
      lane = {
        imageKey,
        index: lanes.size,
        load: imageLoad.get(imageKey) ?? 0,
        nodes: [],
        wants: [],
        seen: undefined,
        firstTargets: undefined,
        extraSecrets: undefined,
        next: 0,
      };
      lanes.set(imageKey, lane);
    }
    const flying = flyingByImage.get(imageKey);
    const history = historyByImage.get(imageKey);
    let seen = lane.seen;
    if (!seen && lane.firstTargets === undefined && ascending(want.targetNodes)) lane.firstTargets = want.targetNodes;
    else seen = seenOf(lane);
    for (const node of want.targetNodes) {
      if (typeof node !== 'string' || node === '') continue;
      const prior = seen?.get(node);
      if (prior !== undefined) {
        if (prior >= 0 && (lane.wants[prior] as WantedImage).namespace === want.namespace && want.pullSecrets.length > 0) {
          lane.extraSecrets ??= new Map();
          const extra = lane.extraSecrets.get(prior);
          if (extra) extra.push(want.pullSecrets);
          else lane.extraSecrets.set(prior, [want.pullSecrets]);
        }
        continue;
      }
      let candidate = -1;
      if (input.isPresent(imageKey, node)) result.present++;
      else if (flying?.has(node)) result.inFlight++;
      else if (!isUsable(node)) result.unusable++;
      else if (history && isBackingOff(history.get(node), input.now)) result.backingOff++;
      else {
        candidate = lane.nodes.length;
        lane.nodes.push(node);
        lane.wants.push(want);
        candidates++;
      }
      seen?.set(node, candidate);
    }
  }

  const heap = new LaneHeap();
  for (const lane of lanes.values()) if (lane.nodes.length > 0) heap.push(lane);
  while (clusterFree > 0) {
    const lane = heap.pop();
    if (!lane) break;
    // The lane's next candidate whose node still has room. Room only shrinks during
    // a plan, so a candidate passed over here could not be started later either.
    let granted = -1;
    while (lane.next < lane.nodes.length) {
      const i = lane.next++;
      if ((nodeLoad.get(lane.nodes[i] as string) ?? 0) < perNode) {
        granted = i;
        break;
      }
    }
    if (granted < 0) continue; // lane exhausted; it leaves the heap
    const pull = plannedPull(lane, granted);
    result.start.push(pull);
    nodeLoad.set(pull.node, (nodeLoad.get(pull.node) ?? 0) + 1);
    lane.load++;
    clusterFree--;
    if (lane.next < lane.nodes.length) heap.push(lane);
  }
  result.deferred = candidates - result.start.length;
  return result;
}

/** Strictly ascending strings: no pair can repeat within them. */
function ascending(nodes: readonly unknown[]): boolean {
  for (let i = 1; i < nodes.length; i++) if (!((nodes[i - 1] as string) < (nodes[i] as string))) return false;
  return true;
}

/**
 * The lane's dedupe map, made from its first want when a later want arrives:
 * candidates were appended in that want's order, so walking both side by side
 * tells each node's candidate index (or -1: skipped).
 */
function seenOf(lane: Lane): Map<string, number> {
  if (lane.seen) return lane.seen;
  const seen = new Map<string, number>();
  let j = 0;
  for (const node of lane.firstTargets ?? []) {
    if (typeof node !== 'string' || node === '') continue;
    if (j < lane.nodes.length && lane.nodes[j] === node) seen.set(node, j++);
    else seen.set(node, -1);
  }
  lane.seen = seen;
  lane.firstTargets = undefined;
  return seen;
}

function plannedPull(lane: Lane, i: number): PlannedPull {
  const want = lane.wants[i] as WantedImage;
  const pullSecrets = mergeNames([], want.pullSecrets);
  for (const more of lane.extraSecrets?.get(i) ?? []) mergeNames(pullSecrets, more);
  return {
    imageKey: lane.imageKey,
    node: lane.nodes[i] as string,
    image: want.image,
    namespace: want.namespace,
    pullSecrets,
    source: want.source,
  };
}

/** Append names not yet present, keeping first-seen order. */
function mergeNames(into: string[], names: readonly unknown[] | undefined): string[] {
  if (!Array.isArray(names)) return into;
  for (const name of names) if (typeof name === 'string' && name !== '' && !into.includes(name)) into.push(name);
  return into;
}

/**
 * Binary min-heap of lanes ordered by (load, index). A linear scan per grant would
 * cost lanes × grants (10,000 × 10,000 at the policy maxima); this is grants × log lanes.
 */
class LaneHeap {
  private readonly items: Lane[] = [];

  push(lane: Lane): void {
    const items = this.items;
    items.push(lane);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(items[i] as Lane, items[parent] as Lane)) break;
      swap(items, i, parent);
      i = parent;
    }
  }

  pop(): Lane | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && less(items[left] as Lane, items[smallest] as Lane)) smallest = left;
      if (right < items.length && less(items[right] as Lane, items[smallest] as Lane)) smallest = right;
      if (smallest === i) break;
      swap(items, i, smallest);
      i = smallest;
    }
    return top;
  }
}

function less(a: Lane, b: Lane): boolean {
  return a.load < b.load || (a.load === b.load && a.index < b.index);
}

function swap(items: Lane[], i: number, j: number): void {
  const t = items[i] as Lane;
  items[i] = items[j] as Lane;
  items[j] = t;
}
