import { isObject } from '../json-shape.js';
import { HOSTNAME_LABEL } from './shortlist.js';

/**
 * The shape of what this webhook injects, and how a later invocation recognizes it.
 * Everything that knows the injected terms' shape lives here, so that changing the
 * shape is a change to this file (and its tests) alone.
 *
 * Injected terms name one node each by `matchFields metadata.name In [node]`
 * (labels such as kubernetes.io/hostname need not equal the node name; the API
 * server allows one value per field requirement, hence one term per node).
 *
 * The record annotation lists the (node, weight) pairs injected, nothing of the
 * user's. It is written by us but arrives on the pod, i.e. from whoever created
 * it, so it is never taken on its word: a term counts as ours only when it has
 * exactly our shape AND the record names it. A forged record can therefore at most
 * make us remove preferred terms of our own shape (which only ever express a
 * preference) or believe a required injection was already made (so we add none);
 * it can never make us drop or loosen a required term.
 */

export type InjectionMode = 'preferred' | 'required' | 'shortlist';

export interface InjectionRecord {
  v: 2;
  mode: InjectionMode;
  /** [node name, weight] in injection order: the preferred terms (preferred, shortlist) or required nodes. */
  nodes: Array<[string, number]>;
  /** Shortlist mode: the hostname label values of the `In` expression ANDed into the required terms. */
  shortlist?: string[];
}

/** Node names are DNS subdomains (at most 253 characters); weights 1..100. */
const MAX_NODE_NAME = 253;
/** The policy caps affinity.maxNodes at 1000; entries beyond that are not ours. */
export const MAX_RECORD_NODES = 1000;
/** A shortlist holds at most shortlistSize (100) nodes plus the holders (maxNodes). */
export const MAX_RECORD_SHORTLIST = 1100;

export function nodeNameRequirement(nodeName: string) {
  return { key: 'metadata.name', operator: 'In', values: [nodeName] };
}

export function preferredTerm(nodeName: string, weight: number) {
  return { weight, preference: { matchFields: [nodeNameRequirement(nodeName)] } };
}

export function requiredNameTerm(nodeName: string) {
  return { matchFields: [nodeNameRequirement(nodeName)] };
}

/** Hash key of a (node, weight) pair. */
export function pairKey(nodeName: string, weight: number): string {
  return `${weight}\u0000${nodeName}`;
}

/**
 * Read the record; anything malformed is no record at all (we then only add, never
 * remove). Version 1 records (which also carried the user's required terms) are
 * read for their node list only. We never name more than `maxNodes` (the policy's
 * affinity.maxNodes), so a record naming more is not ours and is not even parsed
 * further: a forged record of thousands of nodes costs nothing.
 */
export function readRecord(raw: unknown, maxNodes = MAX_RECORD_NODES): InjectionRecord | undefined {
  if (typeof raw !== 'string') return undefined;
  if (raw.length > maxNodes * (MAX_NODE_NAME + 16) + MAX_RECORD_SHORTLIST * 80 + 256) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || (parsed['v'] !== 1 && parsed['v'] !== 2)) return undefined;
  const mode = parsed['mode'];
  if (mode !== 'preferred' && mode !== 'required' && mode !== 'shortlist') return undefined;
  const list = parsed['nodes'];
  if (!Array.isArray(list) || list.length > Math.min(maxNodes, MAX_RECORD_NODES)) return undefined;
  const nodes: Array<[string, number]> = [];
  for (const entry of list) {
    if (!Array.isArray(entry) || entry.length !== 2) continue;
    const [name, weight] = entry as [unknown, unknown];
    if (typeof name !== 'string' || name === '' || name.length > MAX_NODE_NAME) continue;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100) continue;
    nodes.push([name, weight]);
  }
  if (mode !== 'shortlist') return { v: 2, mode, nodes };
  const hostnames = parsed['shortlist'];
  if (!Array.isArray(hostnames) || hostnames.length > MAX_RECORD_SHORTLIST || !hostnames.every((h) => typeof h === 'string')) return undefined;
  return { v: 2, mode, nodes, shortlist: hostnames as string[] };
}

export function recordText(record: InjectionRecord): string {
  return JSON.stringify(record);
}

/** The node named by a lone `metadata.name In [node]` requirement list, else undefined. */
function soleNodeName(fields: unknown): string | undefined {
  if (!Array.isArray(fields) || fields.length !== 1) return undefined;
  const req = fields[0];
  if (!isObject(req) || req['key'] !== 'metadata.name' || req['operator'] !== 'In') return undefined;
  const values = req['values'];
  if (!Array.isArray(values) || values.length !== 1 || typeof values[0] !== 'string') return undefined;
  if (Object.keys(req).length !== 3) return undefined;
  return values[0];
}

/** [node, weight] when the term has exactly the shape we inject, else undefined. */
export function ownPreferredShape(term: unknown): [string, number] | undefined {
  if (!isObject(term)) return undefined;
  const weight = term['weight'];
  const preference = term['preference'];
  if (typeof weight !== 'number' || !isObject(preference)) return undefined;
  // Exactly what we write, key for key: anything else (even an equivalent term
  // with an empty matchExpressions) is the user's.
  if (Object.keys(term).length !== 2 || Object.keys(preference).length !== 1) return undefined;
  const name = soleNodeName(preference['matchFields']);
  return name === undefined ? undefined : [name, weight];
}

/**
 * Positions of the preferred terms that are ours: our shape, and named by the
 * record (each record entry accounts for one term, taken from the end, where we
 * append). Linear: the record is hashed, not searched.
 */
export function recognizePreferred(preferred: readonly unknown[], record: InjectionRecord | undefined): number[] {
  if (!record || record.mode === 'required' || record.nodes.length === 0) return [];
  const remaining = new Map<string, number>();
  for (const [name, weight] of record.nodes) {
    const key = pairKey(name, weight);
    remaining.set(key, (remaining.get(key) ?? 0) + 1);
  }
  const found: number[] = [];
  for (let i = preferred.length - 1; i >= 0; i--) {
    const shape = ownPreferredShape(preferred[i]);
    if (!shape) continue;
    const key = pairKey(shape[0], shape[1]);
    const left = remaining.get(key);
    if (!left) continue;
    remaining.set(key, left - 1);
    found.push(i);
  }
  return found.reverse();
}

/**
 * True when a required injection of ours is already on the pod: a required record
 * and some required term carrying `metadata.name In [node]` for a node it names, or
 * a shortlist record and some term carrying `kubernetes.io/hostname In` exactly its
 * shortlist. We then add nothing required, and never remove anything required
 * (that could loosen what another admission step required since).
 */
export function hasOwnRequired(terms: readonly unknown[] | null, record: InjectionRecord | undefined): boolean {
  if (!terms || !record) return false;
  if (record.mode === 'required' && record.nodes.length > 0) {
    const named = new Set(record.nodes.map(([name]) => name));
    return terms.some((term) => requirementsOf(term, 'matchFields').some((req) => isNameIn(req, named)));
  }
  if (record.mode === 'shortlist' && record.shortlist) {
    const wanted = JSON.stringify(record.shortlist);
    return terms.some((term) => requirementsOf(term, 'matchExpressions').some((req) => isShortlist(req, wanted)));
  }
  return false;
}

function requirementsOf(term: unknown, field: 'matchFields' | 'matchExpressions'): Array<Record<string, unknown>> {
  if (!isObject(term) || !Array.isArray(term[field])) return [];
  return (term[field] as unknown[]).filter(isObject);
}

function isNameIn(req: Record<string, unknown>, named: ReadonlySet<string>): boolean {
  const values = req['values'];
  return req['key'] === 'metadata.name' && req['operator'] === 'In' && Array.isArray(values) && values.length === 1 && typeof values[0] === 'string' && named.has(values[0]);
}

function isShortlist(req: Record<string, unknown>, wanted: string): boolean {
  return req['key'] === HOSTNAME_LABEL && req['operator'] === 'In' && JSON.stringify(req['values']) === wanted;
}

/** The user's term ANDed with one node (unless it already names exactly that node). */
export function requiredTermWithNode(raw: unknown, nodeName: string, alreadyNamesIt: boolean): unknown {
  if (!isObject(raw)) return requiredNameTerm(nodeName);
  if (alreadyNamesIt) return raw;
  const fields = Array.isArray(raw['matchFields']) ? raw['matchFields'] : [];
  return { ...raw, matchFields: [...fields, nodeNameRequirement(nodeName)] };
}

/** JSON bytes one record entry adds to the annotation (escaped inside a string). */
export function recordEntryBytes(nodeName: string): number {
  return JSON.stringify(JSON.stringify([nodeName, 100])).length;
}

/** JSON bytes of a preferred term naming one node, plus its separating comma. */
export function preferredTermBytes(nodeName: string): number {
  return JSON.stringify(preferredTerm(nodeName, 100)).length + 1;
}

/** Bytes a `metadata.name In [node]` requirement adds to a term. */
export function nameRequirementBytes(nodeName: string): number {
  return JSON.stringify(nodeNameRequirement(nodeName)).length + 1;
}

/** JSON bytes of a required term naming one node, plus its separating comma. */
export function requiredNameTermBytes(nodeName: string): number {
  return JSON.stringify(requiredNameTerm(nodeName)).length + 1;
}
