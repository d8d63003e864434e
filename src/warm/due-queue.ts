/**
 * Keys that fall due at a time, earliest first (a binary min-heap): lets the warm
 * records find the ones whose lifetime ends without looking at all of them.
 * A key may be queued more than once; the owner decides on pop whether an entry
 * is still the one it meant (see WarmRecords.schedule).
 */
export class DueQueue {
  private readonly heap: Array<{ at: number; key: string }> = [];

  get size(): number {
    return this.heap.length;
  }

  push(at: number, key: string): void {
    const heap = this.heap;
    heap.push({ at, key });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = { at, key };
  }

  /** The earliest time queued, if any. */
  peek(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Remove and return the earliest entry if it is due at `now`. */
  popDue(now: number): { at: number; key: string } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (!top || top.at > now) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
        if (heap[child]!.at >= last.at) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }
}
