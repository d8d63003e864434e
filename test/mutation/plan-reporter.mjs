// Stryker reporter plugin 'plan': before any mutant runs, prints how the run will be
// spent, per directory: mutants that hot-swap into a loaded test process (cheap),
// mutants that need a fresh process because their code also runs while modules load
// ("static"; expensive under Mocha 12's ES modules), mutants no test reaches and those
// decided early (ignored, or unchanged since the incremental file). With
// MUTATION_PLAN_ONLY=1 the run stops there, so the cost of a configuration can be
// checked in the time of one dry run.
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PluginKind, declareClassPlugin } from '@stryker-mutator/api/plugin';

const PLAN_FILE = 'reports/mutation/plan.txt';

function directoryOf(file) {
  const rel = path.relative(process.cwd(), file).split(path.sep).join('/');
  const parts = rel.split('/');
  return parts.length > 2 ? parts.slice(0, -1).join('/') : parts[0];
}

class PlanReporter {
  onMutationTestingPlanReady({ mutantPlans }) {
    const byDir = new Map();
    const fresh = [];
    for (const { plan, mutant, runOptions } of mutantPlans) {
      const dir = directoryOf(mutant.fileName);
      const c = byDir.get(dir) ?? { hotSwap: 0, freshProcess: 0, noCoverage: 0, early: 0 };
      if (plan === 'EarlyResult') c.early++;
      else if (runOptions.testFilter?.length === 0) c.noCoverage++;
      else if (runOptions.reloadEnvironment) {
        c.freshProcess++;
        fresh.push(`    ${path.relative(process.cwd(), mutant.fileName)}:${mutant.location.start.line + 1} ${mutant.mutatorName}`);
      }
      else c.hotSwap++;
      byDir.set(dir, c);
    }
    const lines = ['mutation plan (mutants per directory):'];
    for (const [dir, c] of [...byDir.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(
        `  ${dir}: ${c.hotSwap} in a loaded process, ${c.freshProcess} need a fresh process (static), ` +
          `${c.noCoverage} reached by no test, ${c.early} decided without running (ignored or unchanged)`,
      );
    }
    const text = lines.join('\n');
    console.log(text);
    mkdirSync(path.dirname(PLAN_FILE), { recursive: true });
    // The file also lists where each fresh-process mutant is, to find the code that runs at load.
    const where = fresh.length > 0 ? `  fresh-process mutants:\n${fresh.join('\n')}\n` : '';
    appendFileSync(PLAN_FILE, `${new Date().toISOString()}\n${text}\n${where}`);
    if (process.env.MUTATION_PLAN_ONLY === '1') {
      console.log('MUTATION_PLAN_ONLY=1: stopping before the first mutant');
      process.exit(0);
    }
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'plan', PlanReporter)];
