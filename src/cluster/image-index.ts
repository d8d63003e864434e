import { isDeepStrictEqual } from 'node:util';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { nodeImageKey } from '../images/reference.js';
import type { Labels, NodeFacts } from '../scheduling/node-selection.js';
import { imageListFacts, type ImageListFacts } from './image-list-facts.js';
import { Interner } from './interner.js';
import { projectNode } from './node-projection.js';

/** What the index knows about one node: enough to judge eligibility and score it. */
export interface IndexedNode extends NodeFacts {
  /** Small integer, stable while the node exists; lets scoring use typed arrays. */
  id: number;
  /** Not cordoned and Ready: the scheduler would consider it for a new pod. */
  schedulable: boolean;
  /** status.allocatable (cpu, memory, pods, ephemeral-storage) as quantity strings; absent in hand-built views. */
  allocatable?: Readonly<Record<string, string>>;
  /** Normalized image key -> size in bytes, from node status and warm records. */
  images: ReadonlyMap<string, number>;
  /** What the node's status.images list can prove (absent in hand-built views). */
  imageList?: ImageListFacts;
}

/** Holders of one image as arrays, for the admission hot path. */
export interface HolderArray {
  /** Node ids holding the image. */
  ids: Int32Array;
  /** Largest size any node reports for it (at least 1, so unknown sizes still count). */
  sizeBytes: number;
}

/** Read side of the index, all that admission needs. */
export interface ImageLocalityView {
  holdersOf(imageKey: string): ReadonlyMap<string, number> | undefined;
  holderArray(imageKey: string): HolderArray | undefined;
  node(name: string): IndexedNode | undefined;
  nodeById(id: number): IndexedNode | undefined;
  /** Node ids ordered by node name: the deterministic tie-break. */
  idsByName(): Int32Array;
  /** Position of each node id in idsByName(). */
  nameRanks(): Int32Array;
  /**
   * Name ranks (positions in idsByName()) of the image's holders, ascending: lets a
   * decision visit holders in tie-break order and stop early, and test membership by
   * binary search, instead of walking every holder.
   */
  holderRanks(imageKey: string): Int32Array | undefined;
  /** One more than the largest node id in use: the size of per-node scratch arrays. */
  readonly idLimit: number;
  allNodes(): Iterable<IndexedNode>;
  readonly nodeCount: number;
  readonly imageCount: number;
  /**
   * Changes whenever anything a decision reads changes (holders, labels, taints,
   * schedulability, the set of nodes); equal values mean equal answers, so
   * decisions may be cached against it.
   */
  readonly generation: number;
}

interface MutableNode {
  id: number;
  name: string;
  labels: Labels;
  taints: readonly V1Taint[];
  schedulable: boolean;
  allocatable: Readonly<Record<string, string>>;
  /** Images the kubelet reports in node.status.images. */
  reported: Map<string, number>;
  imageList: ImageListFacts;
  /**
   * Images this product pulled onto the node. The kubelet only reports the largest
   * images of a node (50 by default), so a warmed small image may never show up in
   * status; the record keeps it visible to the index until its owner (the warm
   * records, src/warm/warm-records.ts) forgets it or the node goes away. It may
   * also be reported: the record then waits for the day the kubelet stops listing it.
   */
  warmed: Map<string, number>;
  /** Union of reported and warmed (the reported map itself when nothing is warmed); what the rest of the product reads. */
  images: Map<string, number>;
}

const NAME_CACHE_LIMIT = 200_000;

/**
 * Normalized image -> nodes holding it (with sizes), kept up to date one node at a
 * time. Every update is applied in one synchronous step, so a reader on the same
 * event loop never sees a node half-updated.
 */
export class ImageIndex implements ImageLocalityView {
  private readonly holders = new Map<string, Map<string, number>>();
  private readonly nodes = new Map<string, MutableNode>();
  private readonly byId: Array<MutableNode | undefined> = [];
  private readonly freeIds: number[] = [];
  /** Built on first use after a change, so a watch event costs nothing until a pod asks. */
  private readonly holderArrays = new Map<string, HolderArray>();
  private nameOrder: { ids: Int32Array; ranks: Int32Array } | undefined;
  /** Per image, valid while both its holders and the name order are unchanged. */
  private readonly rankArrays = new Map<string, { order: object; ranks: Int32Array }>();
  /** Called after every node update, for the warm records to check that node's records again. */
  private readonly nodeListeners: Array<(name: string) => void> = [];
  /** Label values and quantities repeat across nodes (zone, instance type, pool): one copy each. */
  private readonly strings = new Interner();
  /** Node status names repeat across thousands of nodes; parse each once. */
  private readonly keyOfName = new Map<string, string | null>();

  private changes = 0;
  private placementChanges = 0;
  /** Per image, the value of `changes` when its holders last changed (absent: no holders). */
  private readonly imageStamps = new Map<string, number>();

  get generation(): number {
    return this.changes;
  }

  /**
   * Changes whenever which nodes a pod could be placed on may change (labels, taints,
   * schedulability, the set of nodes), but not when only images move: eligibility
   * may be cached against it.
   */
  get placementGeneration(): number {
    return this.placementChanges;
  }

  /**
   * Changes whenever the holders of this image change (0 when nobody holds it): work
   * derived from one image's holders may be cached against it.
   */
  imageGeneration(imageKey: string): number {
    return this.imageStamps.get(imageKey) ?? 0;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  get imageCount(): number {
    return this.holders.size;
  }

  holdersOf(imageKey: string): ReadonlyMap<string, number> | undefined {
    return this.holders.get(imageKey);
  }

  node(name: string): IndexedNode | undefined {
    return this.nodes.get(name);
  }

  nodeById(id: number): IndexedNode | undefined {
    return this.byId[id];
  }

  get idLimit(): number {
    return this.byId.length;
  }

  holderArray(imageKey: string): HolderArray | undefined {
    let cached = this.holderArrays.get(imageKey);
    if (cached) return cached;
    const holders = this.holders.get(imageKey);
    if (!holders) return undefined;
    const ids = new Int32Array(holders.size);
    let sizeBytes = 1;
    let i = 0;
    for (const [name, size] of holders) {
      ids[i++] = (this.nodes.get(name) as MutableNode).id;
      if (size > sizeBytes) sizeBytes = size;
    }
    cached = { ids, sizeBytes };
    this.holderArrays.set(imageKey, cached);
    return cached;
  }

  idsByName(): Int32Array {
    return this.order().ids;
  }

  holderRanks(imageKey: string): Int32Array | undefined {
    const holders = this.holderArray(imageKey);
    if (!holders) return undefined;
    const order = this.order();
    const cached = this.rankArrays.get(imageKey);
    if (cached && cached.order === order) return cached.ranks;
    const ranks = Int32Array.from(holders.ids, (id) => order.ranks[id] as number).sort();
    this.rankArrays.set(imageKey, { order, ranks });
    return ranks;
  }

  nameRanks(): Int32Array {
    return this.order().ranks;
  }

  private order(): { ids: Int32Array; ranks: Int32Array } {
    if (!this.nameOrder) {
      const sorted = [...this.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const ids = Int32Array.from(sorted, (n) => n.id);
      const ranks = new Int32Array(this.byId.length).fill(-1);
      ids.forEach((id, rank) => (ranks[id] = rank));
      this.nameOrder = { ids, ranks };
    }
    return this.nameOrder;
  }

  allNodes(): Iterable<IndexedNode> {
    return this.nodes.values();
  }

  nodeNames(): string[] {
    return [...this.nodes.keys()];
  }

  /** Add or update a node from its API object; only its projection (and image keys) is kept. */
  upsertNode(node: V1Node): void {
    const projection = projectNode(node, this.strings);
    if (!projection) return;
    const name = projection.name;
    const previous = this.nodes.get(name);
    const next: MutableNode = {
      id: previous?.id ?? this.allocateId(),
      name,
      labels: projection.labels,
      taints: projection.taints,
      // Cordoned or not Ready nodes get no new pods, so pointing a pod at them helps nobody.
      schedulable: projection.ready && !projection.unschedulable,
      allocatable: projection.allocatable,
      reported: this.reportedImages(node),
      imageList: imageListFacts(node),
      warmed: previous?.warmed ?? new Map(),
      images: new Map(),
    };
    next.images = union(next.reported, next.warmed);
    const imagesChanged = this.replaceImages(name, previous?.images, next.images);
    // Status heartbeats rewrite nodes without changing anything decisions read;
    // only real changes invalidate cached decisions.
    const placementChanged =
      !previous ||
      previous.schedulable !== next.schedulable ||
      !isDeepStrictEqual(previous.labels, next.labels) ||
      !isDeepStrictEqual(previous.taints, next.taints);
    if (placementChanged) this.placementChanges++;
    if (imagesChanged || placementChanged) this.changes++;
    this.nodes.set(name, next);
    this.byId[next.id] = next;
    if (!previous) this.nameOrder = undefined;
    // In the same synchronous step: no reader sees a record the new status disproves.
    for (const listener of this.nodeListeners) listener(name);
  }

  /** Register a callback run after each node add or update (not removal), with the node's name. */
  onNodeUpdate(listener: (name: string) => void): void {
    this.nodeListeners.push(listener);
  }

  /** Whether the node's own status lists the image. */
  reports(nodeName: string, imageKey: string): boolean {
    return this.nodes.get(nodeName)?.reported.has(imageKey) === true;
  }

  /** Whether a warm record of the image on the node is in the index. */
  hasWarmed(nodeName: string, imageKey: string): boolean {
    return this.nodes.get(nodeName)?.warmed.has(imageKey) === true;
  }

  private allocateId(): number {
    return this.freeIds.pop() ?? this.byId.length;
  }

  removeNode(name: string): void {
    const previous = this.nodes.get(name);
    if (!previous) return;
    this.replaceImages(name, previous.images, new Map());
    this.changes++;
    this.placementChanges++;
    this.nodes.delete(name);
    this.byId[previous.id] = undefined;
    this.freeIds.push(previous.id);
    this.nameOrder = undefined;
  }

  /** Rebuild from a full list, dropping nodes that are no longer present. */
  replaceAll(nodes: readonly V1Node[]): void {
    const seen = new Set<string>();
    for (const node of nodes) {
      const name = node.metadata?.name;
      if (typeof name === 'string') seen.add(name);
      this.upsertNode(node);
    }
    for (const name of [...this.nodes.keys()]) {
      if (!seen.has(name)) this.removeNode(name);
    }
  }

  /**
   * Remember that this product pulled an image onto a node. A pull does not tell the
   * image's size; by default it is the largest size any node reports for it, or 1
   * byte when none does (it then still counts, as one image among the pod's).
   */
  recordWarmed(nodeName: string, imageKey: string, sizeBytes = this.holderArray(imageKey)?.sizeBytes ?? 1): void {
    const node = this.nodes.get(nodeName);
    if (!node || node.warmed.get(imageKey) === sizeBytes) return;
    node.warmed.set(imageKey, sizeBytes);
    const images = union(node.reported, node.warmed);
    if (this.replaceImages(nodeName, node.images, images)) this.changes++;
    node.images = images;
  }

  /** Forget a warm record: its cache no longer reports it, or node status disproved it, or it expired. */
  forgetWarmed(nodeName: string, imageKey: string): void {
    const node = this.nodes.get(nodeName);
    if (!node || !node.warmed.delete(imageKey)) return;
    const images = union(node.reported, node.warmed);
    if (this.replaceImages(nodeName, node.images, images)) this.changes++;
    node.images = images;
  }

  private reportedImages(node: V1Node): Map<string, number> {
    const images = new Map<string, number>();
    const entries = node.status?.images;
    if (!Array.isArray(entries)) return images;
    for (const entry of entries) {
      const size = typeof entry?.sizeBytes === 'number' && entry.sizeBytes > 0 ? entry.sizeBytes : 0;
      const names = Array.isArray(entry?.names) ? entry.names : [];
      for (const statusName of names) {
        if (typeof statusName !== 'string') continue;
        const key = this.keyFor(statusName);
        if (key !== null) images.set(key, Math.max(size, images.get(key) ?? 0));
      }
    }
    return images;
  }

  private keyFor(statusName: string): string | null {
    let key = this.keyOfName.get(statusName);
    if (key === undefined) {
      key = nodeImageKey(statusName) ?? null;
      if (this.keyOfName.size >= NAME_CACHE_LIMIT) this.keyOfName.clear();
      this.keyOfName.set(statusName, key);
    }
    return key;
  }

  private replaceImages(
    nodeName: string,
    before: ReadonlyMap<string, number> | undefined,
    after: ReadonlyMap<string, number>,
  ): boolean {
    let changed = false;
    if (before) {
      for (const key of before.keys()) {
        if (after.has(key)) continue;
        const holders = this.holders.get(key);
        if (!holders) continue;
        this.holderArrays.delete(key);
        this.rankArrays.delete(key);
        changed = true;
        holders.delete(nodeName);
        if (holders.size === 0) {
          this.holders.delete(key);
          this.imageStamps.delete(key);
        } else {
          this.imageStamps.set(key, this.changes + 1);
        }
      }
    }
    for (const [key, size] of after) {
      let holders = this.holders.get(key);
      if (!holders) {
        holders = new Map();
        this.holders.set(key, holders);
      }
      if (holders.get(nodeName) !== size) {
        holders.set(nodeName, size);
        this.holderArrays.delete(key);
        this.rankArrays.delete(key);
        this.imageStamps.set(key, this.changes + 1);
        changed = true;
      }
    }
    return changed;
  }

}

/** a itself when b is empty (the usual case), so a node keeps one map of its images, not two. */
function union(a: Map<string, number>, b: ReadonlyMap<string, number>): Map<string, number> {
  if (b.size === 0) return a;
  const out = new Map(a);
  for (const [key, size] of b) if (!out.has(key)) out.set(key, size);
  return out;
}

