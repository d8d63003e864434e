// What must hold for every corpus pod after it went through the real apiserver
// and the webhook. Each check returns a list of problems (empty: fine), so that one
// run reports every pod that is wrong, not just the first.
import { isDeepStrictEqual } from 'node:util';
import type {
  V1Affinity,
  V1NodeAffinity,
  V1NodeSelectorRequirement,
  V1NodeSelectorTerm,
  V1Pod,
  V1PodSpec,
  V1PreferredSchedulingTerm,
  V1Toleration,
} from '@kubernetes/client-node';
import { INJECTED, plain } from '../support/harness.js';

/** Tolerations the DefaultTolerationSeconds admission plugin adds to every pod that lacks them. */
function isDefaultToleration(t: V1Toleration): boolean {
  return (
    (t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable') &&
    t.operator === 'Exists' &&
    t.effect === 'NoExecute' &&
    t.tolerationSeconds === 300
  );
}

/** The stored tolerations without what the apiserver itself added (the user's own are kept even if identical). */
export function userTolerations(stored: V1Toleration[] | undefined, sent: V1Toleration[] | undefined): V1Toleration[] {
  const sentList = plain(sent ?? []);
  return plain(stored ?? []).filter((t) => !isDefaultToleration(t) || sentList.some((s) => isDeepStrictEqual(s, t)));
}

function same(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(plain(a), plain(b));
}

function show(v: unknown): string {
  return JSON.stringify(v);
}

/** The node named by an injected term's `matchFields metadata.name In [node]`, or undefined. */
function nodeNameOf(fields: V1NodeSelectorRequirement[] | undefined): string | undefined {
  const f = (fields ?? []).filter((r) => r.key === 'metadata.name');
  if (f.length !== 1 || f[0]!.operator !== 'In' || f[0]!.values?.length !== 1) return undefined;
  return f[0]!.values[0];
}

function sorted(list: readonly string[]): string[] {
  return [...list].sort();
}

/** Everything the user said about placement besides node affinity: must come back exactly as sent. */
function otherConstraintProblems(sent: V1PodSpec, got: V1PodSpec): string[] {
  const problems: string[] = [];
  if (!same(got.nodeSelector, sent.nodeSelector)) problems.push(`nodeSelector ${show(got.nodeSelector)} != sent ${show(sent.nodeSelector)}`);
  const tolerations = userTolerations(got.tolerations, sent.tolerations);
  if (!same(tolerations, sent.tolerations ?? [])) problems.push(`tolerations ${show(tolerations)} != sent ${show(sent.tolerations)}`);
  if (!same(got.topologySpreadConstraints, sent.topologySpreadConstraints)) {
    problems.push(`topologySpreadConstraints ${show(got.topologySpreadConstraints)} != sent ${show(sent.topologySpreadConstraints)}`);
  }
  for (const key of ['podAffinity', 'podAntiAffinity'] as const) {
    if (!same(got.affinity?.[key], sent.affinity?.[key])) problems.push(`${key} ${show(got.affinity?.[key])} != sent ${show(sent.affinity?.[key])}`);
  }
  return problems;
}

function preferredOf(a: V1NodeAffinity | undefined): V1PreferredSchedulingTerm[] {
  return plain(a?.preferredDuringSchedulingIgnoredDuringExecution ?? []);
}

function requiredOf(a: V1NodeAffinity | undefined): V1NodeSelectorTerm[] | undefined {
  return plain(a?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms);
}

/** The user's preferred terms are the first ones; returns the terms after them (ours), or a problem. */
function appendedPreferred(sent: V1NodeAffinity | undefined, got: V1NodeAffinity | undefined): { added: V1PreferredSchedulingTerm[] } | { problem: string } {
  const user = preferredOf(sent);
  const all = preferredOf(got);
  if (!same(all.slice(0, user.length), user)) return { problem: `user's preferred terms ${show(user)} are not a prefix of ${show(all)}` };
  return { added: all.slice(user.length) };
}

function injectedPreferredNodes(added: V1PreferredSchedulingTerm[], problems: string[]): string[] {
  const nodes: string[] = [];
  for (const term of added) {
    const name = nodeNameOf(term.preference?.matchFields);
    if (name === undefined || (term.preference?.matchExpressions ?? []).length > 0 || (term.preference?.matchFields ?? []).length !== 1) {
      problems.push(`added preferred term is not a single-node term: ${show(term)}`);
      continue;
    }
    if (!Number.isInteger(term.weight) || term.weight < 1 || term.weight > 100) problems.push(`weight ${term.weight} out of 1..100`);
    nodes.push(name);
  }
  return nodes;
}

function expectNodesProblem(actual: string[], expected: string[] | null): string | undefined {
  const want = expected ?? [];
  if (!same(sorted(actual), sorted(want))) return `injected nodes ${show(sorted(actual))}, expected ${show(sorted(want))}`;
  if (new Set(actual).size !== actual.length) return `a node is injected twice: ${show(actual)}`;
  return undefined;
}

function annotationProblem(got: V1Pod, expected: string[] | null): string | undefined {
  const annotation = got.metadata?.annotations?.[INJECTED];
  if (expected === null && annotation !== undefined) return `unexpected ${INJECTED} annotation ${annotation}`;
  if (expected !== null && annotation === undefined) return `${INJECTED} annotation missing`;
  return undefined;
}

/** Preferred mode: required terms unchanged, the user's preferences first, then one term per expected node. */
export function preferredModeProblems(sentPod: V1Pod, gotPod: V1Pod, expectNodes: string[] | null): string[] {
  const sent = plain(sentPod.spec!);
  const got = plain(gotPod.spec!);
  const problems = otherConstraintProblems(sent, got);
  const s = sent.affinity?.nodeAffinity;
  const g = got.affinity?.nodeAffinity;
  if (!same(requiredOf(g), requiredOf(s))) problems.push(`required terms ${show(requiredOf(g))} != sent ${show(requiredOf(s))}`);
  const appended = appendedPreferred(s, g);
  if ('problem' in appended) problems.push(appended.problem);
  else {
    const nodes = injectedPreferredNodes(appended.added, problems);
    const p = expectNodesProblem(nodes, expectNodes);
    if (p) problems.push(p);
  }
  const a = annotationProblem(gotPod, expectNodes);
  if (a) problems.push(a);
  return problems;
}

/** A resulting required term implies one of the user's: it holds all of that term's requirements. */
function impliesUserTerm(term: V1NodeSelectorTerm, userTerms: V1NodeSelectorTerm[]): boolean {
  return userTerms.some(
    (u) =>
      same(term.matchExpressions ?? [], u.matchExpressions ?? []) &&
      (u.matchFields ?? []).every((f) => (term.matchFields ?? []).some((tf) => same(tf, f))),
  );
}

/**
 * Required mode: every resulting required term implies one of the user's (so the pod
 * can only land where the user allowed it), and names one expected node; the user's
 * preferred terms are still first.
 */
export function requiredModeProblems(sentPod: V1Pod, gotPod: V1Pod, expectNodes: string[] | null): string[] {
  const sent = plain(sentPod.spec!);
  const got = plain(gotPod.spec!);
  const problems = otherConstraintProblems(sent, got);
  const s = sent.affinity?.nodeAffinity;
  const g = got.affinity?.nodeAffinity;
  const userRequired = requiredOf(s) ?? [];
  const resultRequired = requiredOf(g) ?? [];
  const appended = appendedPreferred(s, g);
  if ('problem' in appended) problems.push(appended.problem);

  if (expectNodes === null) {
    if (!same(resultRequired, userRequired)) problems.push(`required terms ${show(resultRequired)} != sent ${show(userRequired)}`);
    if (!('problem' in appended) && appended.added.length > 0) problems.push(`unexpected preferred terms ${show(appended.added)}`);
  } else {
    if (resultRequired.length === 0) problems.push('no required terms were injected');
    const nodes: string[] = [];
    for (const term of resultRequired) {
      if (userRequired.length > 0 && !impliesUserTerm(term, userRequired)) {
        problems.push(`required term ${show(term)} implies none of the user's ${show(userRequired)}`);
      }
      const name = nodeNameOf(term.matchFields);
      if (name === undefined) problems.push(`required term ${show(term)} names no single node`);
      else nodes.push(name);
    }
    // One term per (user term, node) pair: compare the set of nodes.
    const p = expectNodesProblem([...new Set(nodes)], expectNodes);
    if (p) problems.push(p);
    if (!('problem' in appended) && appended.added.length > 0) problems.push(`required mode also added preferred terms ${show(appended.added)}`);
  }
  const a = annotationProblem(gotPod, expectNodes);
  if (a) problems.push(a);
  return problems;
}

/**
 * Compared with the same pod created in a namespace that did not opt in, the
 * webhook changed nothing but spec.affinity.nodeAffinity and its own annotation.
 */
export function onlyAffinityChanged(control: V1Pod, got: V1Pod): string[] {
  const problems: string[] = [];
  const c = plain(control);
  const g = plain(got);
  const affinity: V1Affinity = { ...(g.spec?.affinity ?? {}) };
  if (c.spec?.affinity?.nodeAffinity !== undefined) affinity.nodeAffinity = c.spec.affinity.nodeAffinity;
  else delete affinity.nodeAffinity;
  const spec: V1PodSpec = { ...g.spec!, affinity };
  if (c.spec?.affinity === undefined && Object.keys(affinity).length === 0) delete spec.affinity;
  if (!same(spec, c.spec)) problems.push(`spec differs beyond nodeAffinity: ${show(spec)} vs control ${show(c.spec)}`);
  const annotations = { ...(g.metadata?.annotations ?? {}) };
  delete annotations[INJECTED];
  if (!same(annotations, c.metadata?.annotations ?? {})) problems.push(`annotations ${show(annotations)} != control ${show(c.metadata?.annotations)}`);
  for (const key of ['labels', 'ownerReferences', 'generateName'] as const) {
    if (!same(g.metadata?.[key], c.metadata?.[key])) problems.push(`metadata.${key} ${show(g.metadata?.[key])} != control ${show(c.metadata?.[key])}`);
  }
  return problems;
}
