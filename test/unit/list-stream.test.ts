import { expect } from 'chai';
import fc from 'fast-check';
import { ListStreamError, ListStreamParser, MAX_ITEM_BYTES } from '../../src/cluster/list-stream.js';
import { LineSplitter } from '../../src/cluster/api-transport.js';

/** Feed `text` in pieces cut at `cuts` (byte offsets); returns the items and the other members. */
function parse(text: string | Buffer, cuts: number[] = []): { items: unknown[]; members: Record<string, unknown> } {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const items: unknown[] = [];
  const parser = new ListStreamParser('nodes', (item) => items.push(item));
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.push(bytes.subarray(at, cut));
    at = cut;
  }
  return { items, members: parser.end().members };
}

const TRICKY_ITEMS = [
  { metadata: { name: 'a' }, s: 'braces } ] { [ and "quotes" and \\ backslashes \\' },
  { metadata: { name: 'ü-ñ-日本-😀' }, list: [1, [2, [3]], { x: null }], n: -1.5e3 },
  { metadata: { name: 'esc' }, s: '\\"\\\\\\"', u: '\u0000\u001f\u2028' },
];

describe('ListStreamParser', () => {
  it('hands over every item and the metadata of a list, however the bytes are cut', () => {
    const list = { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'tok' }, items: TRICKY_ITEMS };
    const text = Buffer.from(JSON.stringify(list, null, 1));
    for (let cut = 0; cut <= text.length; cut++) {
      const { items, members } = parse(text, [cut]);
      expect(items, `cut at ${cut}`).to.deep.equal(TRICKY_ITEMS);
      expect(members).to.deep.equal({ kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'tok' } });
    }
  });

  it('agrees with JSON.parse on random lists cut at random places', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { maxLength: 6 }),
        fc.jsonValue(),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (items, meta, rawCuts, itemsFirst) => {
          const list = itemsFirst ? { items, metadata: meta } : { metadata: meta, items };
          const text = Buffer.from(JSON.stringify(list));
          const cuts = [...new Set(rawCuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const parsed = parse(text, cuts);
          // Through JSON once more, so -0 and 0 compare as JSON.parse would give them.
          expect(parsed.items).to.deep.equal(JSON.parse(JSON.stringify(items)));
          expect(parsed.members).to.deep.equal(JSON.parse(JSON.stringify({ metadata: meta })));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hands over each item before the rest of the response has arrived', () => {
    const seen: unknown[] = [];
    const parser = new ListStreamParser('nodes', (item) => seen.push(item));
    parser.push(Buffer.from('{"metadata":{},"items":[{"a":1},{"b"'));
    expect(seen).to.deep.equal([{ a: 1 }]);
    parser.push(Buffer.from(':2}]}'));
    expect(seen).to.deep.equal([{ a: 1 }, { b: 2 }]);
    expect(parser.end().items).to.equal(2);
  });

  it('reads an empty list, items null, and a list without items', () => {
    expect(parse('{"metadata":{"resourceVersion":"1"},"items":[]}').items).to.deep.equal([]);
    expect(parse('{"metadata":{"resourceVersion":"1"},"items":null}')).to.deep.equal({ items: [], members: { metadata: { resourceVersion: '1' }, items: null } });
    expect(parse(' { "metadata" : { } } \n').members).to.deep.equal({ metadata: {} });
  });

  const malformed: Array<[string, string]> = [
    ['a truncated response', '{"metadata":{},"items":[{"a":1},{"b":'],
    ['a response cut after the items', '{"metadata":{},"items":[{"a":1}]'],
    ['an array instead of an object', '[{"a":1}]'],
    ['items that are not an array', '{"items":{"a":1}}'],
    ['a broken item', '{"items":[{"a":}]}'],
    ['a missing comma between items', '{"items":[{"a":1} {"b":2}]}'],
    ['a missing colon', '{"items" [1]}'],
    ['bytes after the object', '{"items":[]} x'],
    ['an empty body', ''],
  ];
  for (const [what, text] of malformed) {
    it(`rejects ${what} with a ListStreamError`, () => {
      expect(() => parse(text)).to.throw(ListStreamError, /list response of nodes/);
    });
  }

  it('rejects an item larger than the limit instead of buffering it', () => {
    const parser = new ListStreamParser('nodes', () => undefined);
    parser.push(Buffer.from('{"items":["'));
    const filler = Buffer.alloc(1024 * 1024, 0x61);
    let error: unknown;
    try {
      for (let i = 0; i <= MAX_ITEM_BYTES / filler.length; i++) parser.push(filler);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ListStreamError);
    expect((error as Error).message).to.match(/larger than/);
  });

  it('lets an error thrown by the item handler through', () => {
    const parser = new ListStreamParser('nodes', () => {
      throw new Error('handler failed');
    });
    expect(() => parser.push(Buffer.from('{"items":[{}]}'))).to.throw('handler failed');
  });
});

describe('LineSplitter', () => {
  it('hands over each line once complete, across chunks, skipping empty lines', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(1000, (line) => lines.push(line));
    splitter.push(Buffer.from('{"type":"ADDED"}\n{"type":"MOD'));
    expect(lines).to.deep.equal(['{"type":"ADDED"}']);
    splitter.push(Buffer.from('IFIED","x":"日'));
    splitter.push(Buffer.from('本"}\n\n{"type":"DELETED"}\n'));
    expect(lines).to.deep.equal(['{"type":"ADDED"}', '{"type":"MODIFIED","x":"日本"}', '{"type":"DELETED"}']);
  });

  it('keeps a multi-byte character whole when a chunk ends inside it', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(1000, (line) => lines.push(line));
    const bytes = Buffer.from('😀\n');
    splitter.push(bytes.subarray(0, 2));
    splitter.push(bytes.subarray(2));
    expect(lines).to.deep.equal(['😀']);
  });

  it('rejects a line longer than its limit', () => {
    const splitter = new LineSplitter(10, () => undefined);
    splitter.push(Buffer.from('12345'));
    expect(() => splitter.push(Buffer.from('678901'))).to.throw(RangeError, /longer than 10 bytes/);
  });
});
