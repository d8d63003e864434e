// The product's claim, measured: on a real kube-scheduler, pods of a big image land
// on the few nodes that already hold it when image-locality is on. The same pods in
// a namespace that is not opted in are the baseline (the scheduler's own
// ImageLocality plugin, which gives some preference by itself); its share is only
// measured and reported, never asserted.
//
// The first scenario is the experiment as specified; the variants each change one
// thing along the limits of the scheduler's own plugin (see PLACEMENT_VARIANTS).
import { expect } from 'chai';
import { printTailOnFailure, startE2E, stopE2E, type E2E } from './support/harness.js';
import {
  DEFAULT_PLACEMENT_SCENARIO,
  PLACEMENT_VARIANTS,
  formatPlacementReport,
  formatPlacementSummary,
  placementSummaryLine,
  removePlacement,
  runPlacementExperiment,
  type PlacementResult,
  type PlacementScenario,
} from './support/placement.js';

const indent = (text: string): string => text.replace(/^(?=.)/gm, '      ');

describe('e2e: placement on a real kube-scheduler, with and without image-locality', function () {
  this.timeout(300_000);
  let env: E2E | undefined;
  const results: PlacementResult[] = [];

  before(async function () {
    this.timeout(60 * 60_000); // the first run may build the control plane binaries
    env = await startE2E('placement');
  });

  afterEach(function () {
    printTailOnFailure(this, () => env);
  });

  after(async function () {
    this.timeout(60_000);
    if (results.length > 0) console.log('\n' + indent(formatPlacementSummary(results)) + '\n');
    await stopE2E(env);
  });

  function measure(s: PlacementScenario): void {
    it(`${s.id} (${s.title}): at least 90% of the pods on the ${s.warmNodes} nodes holding the image; baseline measured on the same nodes`, async function () {
      let result: PlacementResult;
      try {
        result = await runPlacementExperiment(env!.kc, s, (line) => console.log(`      ${line}`));
      } finally {
        await removePlacement(env!.kc, s);
      }
      results.push(result);
      console.log('\n' + indent(formatPlacementReport(result)) + '\n');
      console.log(indent(placementSummaryLine(result)) + '\n');

      // The baseline was measured: every pod bound, none touched by the webhook.
      expect(result.baseline.pods).to.have.length(s.pods);
      expect(result.baseline.mutated, 'baseline pods carrying an injection').to.equal(0);

      // Every webhook pod was steered (no fail-open), toward exactly the warm nodes.
      expect(result.webhook.mutated, 'webhook pods carrying an injection').to.equal(s.pods);
      for (const pod of result.webhook.pods) {
        expect(pod.injected.map(([n]) => n).sort(), `nodes preferred for ${pod.name}`).to.deep.equal([...result.warmNodes].sort());
      }
      expect(result.webhook.share, 'share of webhook pods on warm nodes').to.be.at.least(0.9);
    });
  }

  measure(DEFAULT_PLACEMENT_SCENARIO);
  for (const variant of PLACEMENT_VARIANTS) measure(variant);
});
