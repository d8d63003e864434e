/**
 * The cost of one admission decision at several cluster sizes, measured in the
 * same process, interleaved, so that the machine's state at any moment weighs on
 * every size alike. Each decision is timed on its own; the figures are per-size
 * percentiles over all rounds. The same pod reviews go to every size.
 *
 * Warm: the workload's ranking is cached (replicas of a workload, no node change in
 * between), the steady state. Cold: every decision ranks afresh, as the first pod of
 * a workload after a node change does.
 */
import { decidePodMutation, type MutationContext, type MutationInput } from '../src/admission/mutate-pod.js';
import { forgetRankings } from '../src/admission/ranking-cache.js';
import { clusterStateFromText } from '../src/cluster/snapshot.js';
import { generateSnapshot, type CatalogueImage } from './workload.js';

export interface DecisionCost {
  nodes: number;
  imageKeys: number;
  samples: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  outcomes: Record<string, number>;
  /** Mean nodes named per mutated pod: the output, and so part of the cost, grows with holders up to maxNodes. */
  meanNodesNamed: number;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** A generated cluster of `nodes` nodes, loaded the way `serve --cluster` loads a snapshot. */
export function generatedContext(nodes: number, imagesPerNode: number, catalogue: CatalogueImage[]): MutationContext {
  const text = JSON.stringify(generateSnapshot({ nodes, imagesPerNode, catalogue, seed: 7 }));
  return clusterStateFromText(text, `generated-${nodes}`, 'image-locality').mutationContext();
}

export function measureDecisionCost(options: {
  clusters: ReadonlyArray<{ nodes: number; context: MutationContext }>;
  inputs: readonly MutationInput[];
  rounds: number;
  /** Forget cached rankings before every decision: the first pod of a workload after a node change. */
  cold?: boolean;
}): DecisionCost[] {
  const contexts = options.clusters.map((c) => c.context);
  const { inputs, rounds } = options;
  const samples = contexts.map(() => new Float64Array(rounds * inputs.length));
  const outcomes = contexts.map(() => new Map<string, number>());
  const named = contexts.map(() => ({ pods: 0, nodes: 0 }));
  // Warm-up: every code path compiled before anything is timed.
  for (let w = 0; w < 20; w++) for (const ctx of contexts) for (const input of inputs) decidePodMutation(input, ctx);
  contexts.forEach((ctx, c) => {
    for (const input of inputs) {
      const decision = decidePodMutation(input, ctx);
      outcomes[c]!.set(decision.outcome, (outcomes[c]!.get(decision.outcome) ?? 0) + 1);
      if (decision.outcome === 'mutated' && decision.record) {
        named[c]!.pods++;
        named[c]!.nodes += decision.record.nodes.length;
      }
    }
  });
  let k = 0;
  for (let round = 0; round < rounds; round++) {
    // Alternate the order of sizes between rounds so neither always runs first.
    const order = round % 2 === 0 ? contexts.map((_, i) => i) : contexts.map((_, i) => contexts.length - 1 - i);
    for (const c of order) {
      const ctx = contexts[c]!;
      const out = samples[c]!;
      for (let i = 0; i < inputs.length; i++) {
        if (options.cold) forgetRankings(ctx.view);
        const start = performance.now();
        decidePodMutation(inputs[i]!, ctx);
        out[k + i] = (performance.now() - start) * 1000;
      }
    }
    k += inputs.length;
  }
  return contexts.map((ctx, c) => {
    const sorted = samples[c]!.sort();
    return {
      nodes: options.clusters[c]!.nodes,
      imageKeys: ctx.view.imageCount,
      samples: sorted.length,
      p50Us: percentile(sorted, 0.5),
      p90Us: percentile(sorted, 0.9),
      p99Us: percentile(sorted, 0.99),
      outcomes: Object.fromEntries(outcomes[c]!),
      meanNodesNamed: named[c]!.pods === 0 ? 0 : named[c]!.nodes / named[c]!.pods,
    };
  });
}
