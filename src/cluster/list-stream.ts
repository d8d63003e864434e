/**
 * Reads a list response (`{"metadata": {...}, "items": [ ... ]}`) as it arrives
 * and hands over each element of `items` as soon as its last byte is in, parsed on
 * its own. A page of 500 realistic nodes is megabytes of JSON (500 times the node
 * size `npm run bench:scale:memory` prints); parsing it whole keeps the bytes, the
 * string and every parsed object alive at once, and the allocator and V8 keep that
 * high-water mark long after the page is garbage. Item by item, what is alive at a
 * time is one network chunk and one object.
 *
 * The scan works on bytes: every byte JSON gives structure to ({ } [ ] " \ , :) is
 * ASCII, and no byte of a multi-byte UTF-8 character is, so nothing inside a string
 * can be mistaken for structure. Members other than `items` (metadata, kind) are
 * small and are parsed whole. Malformed input ends in a ListStreamError, never in a
 * partial result that looks complete.
 */

/** Largest single item accepted; etcd stores at most 1.5 MiB per object by default. */
export const MAX_ITEM_BYTES = 16 * 1024 * 1024;

/** Member names of a list are short words (kind, metadata, items). */
const MAX_KEY_BYTES = 1024;

export class ListStreamError extends Error {
  constructor(
    readonly what: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`list response of ${what}: ${detail} (at byte ${offset})`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Where the scanner is in the top-level object. */
const enum At {
  Start, // before the opening brace
  KeyOrEnd, // after { : a key or }
  Key, // inside a key string
  Colon, // after a key
  Value, // before a member's value
  Member, // inside a member's value (not items)
  AfterMember, // after a value: , or }
  ItemsStart, // before items' [
  ItemOrEnd, // inside items: an element or ]
  Item, // inside an element
  AfterItem, // after an element: , or ]
  Done, // after the closing brace
}

/**
 * One JSON value read piece by piece: objects, arrays and strings end at their
 * closing byte; numbers and literals end at the first byte that cannot belong to
 * them (which is not consumed).
 */
class ValueScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private scalar = false;
  private started = false;
  private parts: Buffer[] = [];
  private size = 0;

  reset(): void {
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.scalar = false;
    this.started = false;
    this.parts = [];
    this.size = 0;
  }

  /**
   * Scan chunk from `from`; returns the index just past the value's end, or -1 if
   * the value continues into the next chunk (what was read is kept).
   */
  scan(chunk: Buffer, from: number): number {
    let i = from;
    const n = chunk.length;
    let end = -1;
    if (!this.started) {
      this.started = true;
      const b = chunk[i] as number;
      if (b !== OPEN_BRACE && b !== OPEN_BRACKET && b !== QUOTE) this.scalar = true;
    }
    if (this.scalar) {
      while (i < n) {
        const b = chunk[i] as number;
        if (b === COMMA || b === CLOSE_BRACE || b === CLOSE_BRACKET || isSpace(b)) {
          end = i;
          break;
        }
        i++;
      }
    } else {
      let depth = this.depth;
      let inString = this.inString;
      let escaped = this.escaped;
      while (i < n) {
        const b = chunk[i++] as number;
        if (inString) {
          if (escaped) escaped = false;
          else if (b === BACKSLASH) escaped = true;
          else if (b === QUOTE) {
            inString = false;
            if (depth === 0) {
              end = i;
              break;
            }
          }
        } else if (b === QUOTE) inString = true;
        else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
        else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) {
            end = i;
            break;
          }
        }
      }
      this.depth = depth;
      this.inString = inString;
      this.escaped = escaped;
    }
    const stop = end === -1 ? n : end;
    this.size += stop - from;
    if (this.size > MAX_ITEM_BYTES) throw new RangeError(`a value is larger than ${MAX_ITEM_BYTES} bytes`);
    if (stop > from) this.parts.push(chunk.subarray(from, stop));
    return end;
  }

  /** The whole value, parsed. A scalar cut short by the end of input is complete too. */
  take(): unknown {
    const text = this.parts.length === 1 ? (this.parts[0] as Buffer).toString('utf8') : Buffer.concat(this.parts, this.size).toString('utf8');
    this.reset();
    return JSON.parse(text) as unknown;
  }
}

export interface ListStreamResult {
  /** Top-level members other than items (kind, apiVersion, metadata), parsed. */
  members: Record<string, unknown>;
  items: number;
}

/** Feed with push(chunk) as bytes arrive, then end(); onItem gets each element of `items`. */
export class ListStreamParser {
  private at = At.Start;
  private offset = 0;
  private key: Buffer[] = [];
  private keyBytes = 0;
  private keyEscaped = false;
  private currentKey = '';
  private readonly value = new ValueScanner();
  private readonly members: Record<string, unknown> = {};
  private items = 0;

  constructor(
    private readonly what: string,
    private readonly onItem: (item: unknown) => void,
  ) {}

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i] as number;
      switch (this.at) {
        case At.Start:
          if (isSpace(b)) i++;
          else if (b === OPEN_BRACE) {
            this.at = At.KeyOrEnd;
            i++;
          } else throw this.fail(i, 'not a JSON object');
          break;
        case At.KeyOrEnd:
          if (isSpace(b) || b === COMMA) i++;
          else if (b === QUOTE) {
            this.at = At.Key;
            this.key = [];
            this.keyBytes = 0;
            this.keyEscaped = false;
            i++;
          } else if (b === CLOSE_BRACE) {
            this.at = At.Done;
            i++;
          } else throw this.fail(i, 'expected a member name');
          break;
        case At.Key: {
          let j = i;
          let closed = -1;
          while (j < n) {
            const c = chunk[j] as number;
            if (this.keyEscaped) this.keyEscaped = false;
            else if (c === BACKSLASH) this.keyEscaped = true;
            else if (c === QUOTE) {
              closed = j;
              break;
            }
            j++;
          }
          const stop = closed === -1 ? n : closed;
          this.key.push(chunk.subarray(i, stop));
          this.keyBytes += stop - i;
          if (this.keyBytes > MAX_KEY_BYTES) throw this.fail(i, 'member name too long');
          if (closed === -1) {
            i = n;
          } else {
            this.currentKey = JSON.parse(`"${Buffer.concat(this.key).toString('utf8')}"`) as string;
            this.at = At.Colon;
            i = closed + 1;
          }
          break;
        }
        case At.Colon:
          if (isSpace(b)) i++;
          else if (b === COLON) {
            this.at = this.currentKey === 'items' ? At.ItemsStart : At.Value;
            i++;
          } else throw this.fail(i, 'expected ":"');
          break;
        case At.Value:
          if (isSpace(b)) i++;
          else {
            this.at = At.Member;
            this.value.reset();
          }
          break;
        case At.Member: {
          const end = this.scanValue(chunk, i);
          if (end === -1) i = n;
          else {
            this.members[this.currentKey] = this.parseValue(i);
            this.at = At.AfterMember;
            i = end;
          }
          break;
        }
        case At.AfterMember:
          if (isSpace(b)) i++;
          else if (b === COMMA) {
            this.at = At.KeyOrEnd;
            i++;
          } else if (b === CLOSE_BRACE) {
            this.at = At.Done;
            i++;
          } else throw this.fail(i, 'expected "," or "}"');
          break;
        case At.ItemsStart:
          if (isSpace(b)) i++;
          else if (b === OPEN_BRACKET) {
            this.at = At.ItemOrEnd;
            i++;
          } else if (b === 0x6e /* n */) {
            // "items": null, as an empty list may be encoded.
            this.at = At.Member;
            this.value.reset();
          } else throw this.fail(i, 'items is not an array');
          break;
        case At.ItemOrEnd:
          if (isSpace(b)) i++;
          else if (b === CLOSE_BRACKET) {
            this.at = At.AfterMember;
            i++;
          } else {
            this.at = At.Item;
            this.value.reset();
          }
          break;
        case At.Item: {
          const end = this.scanValue(chunk, i);
          if (end === -1) i = n;
          else {
            const item = this.parseValue(i);
            this.items++;
            this.at = At.AfterItem;
            i = end;
            this.onItem(item);
          }
          break;
        }
        case At.AfterItem:
          if (isSpace(b)) i++;
          else if (b === COMMA) {
            this.at = At.ItemOrEnd;
            i++;
          } else if (b === CLOSE_BRACKET) {
            this.at = At.AfterMember;
            i++;
          } else throw this.fail(i, 'expected "," or "]" after an item');
          break;
        case At.Done:
          if (isSpace(b)) i++;
          else throw this.fail(i, 'data after the end of the object');
          break;
      }
    }
    this.offset += n;
  }

  /** The input is complete: check that it held a whole object. */
  end(): ListStreamResult {
    if (this.at !== At.Done) throw this.fail(0, 'response ended before the list was complete');
    return { members: this.members, items: this.items };
  }

  private scanValue(chunk: Buffer, from: number): number {
    try {
      return this.value.scan(chunk, from);
    } catch (err) {
      throw this.fail(from, (err as Error).message);
    }
  }

  private parseValue(at: number): unknown {
    try {
      return this.value.take();
    } catch (err) {
      throw this.fail(at, `malformed JSON in ${this.at === At.Item ? `item ${this.items}` : `"${this.currentKey}"`}: ${(err as Error).message}`);
    }
  }

  private fail(index: number, detail: string): ListStreamError {
    return new ListStreamError(this.what, this.offset + index, detail);
  }
}
