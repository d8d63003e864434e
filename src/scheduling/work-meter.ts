/**
 * A budget of abstract work units (one unit: one label lookup or one hashed set
 * probe) for judging one pod against the cluster's nodes. Compiled constraints make
 * each node cheap, but a pod may carry thousands of distinct terms and a cluster
 * thousands of nodes; the product of the two is what the budget caps, so no single
 * admission can hold the event loop, whatever the pod says.
 */

/**
 * A few milliseconds of compiling and node judging on one core (see `npm run
 * bench:adversarial`); an ordinary pod on a 5,000-node cluster uses a small part.
 */
export const DEFAULT_WORK_BUDGET = 150_000;

export class WorkMeter {
  private left: number;

  constructor(readonly budget: number) {
    this.left = budget;
  }

  static unbounded(): WorkMeter {
    return new WorkMeter(Number.POSITIVE_INFINITY);
  }

  /** Count `units` of work; true while budget remains. */
  spend(units: number): boolean {
    this.left -= units;
    return this.left >= 0;
  }

  get exhausted(): boolean {
    return this.left < 0;
  }

  /** Units left (negative once spent past the budget). */
  get remaining(): number {
    return this.left;
  }

  get used(): number {
    return this.budget - Math.max(this.left, 0);
  }
}
