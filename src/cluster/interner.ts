/**
 * One copy of each repeated string. JSON.parse makes a new string for every value it
 * reads, so the same node name, timestamp or state word held in thousands of status
 * entries is thousands of strings; kept through an interner it is one.
 */
export class Interner {
  private readonly table = new Map<string, string>();

  /** @param limit the table is emptied when it reaches this size, so odd input cannot grow it without end. */
  constructor(private readonly limit = 100_000) {}

  intern<T>(value: T): T {
    if (typeof value !== 'string') return value;
    const known = this.table.get(value);
    if (known !== undefined) return known as T;
    if (this.table.size >= this.limit) this.table.clear();
    this.table.set(value, value);
    return value;
  }

  get size(): number {
    return this.table.size;
  }
}
