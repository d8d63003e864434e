import { expect } from 'chai';
import {
  ListWatch,
  type ListPageEnd,
  type ListWatchHandlers,
  type ListWatchTimings,
  type ListWatchTransport,
  type WatchHandle,
} from '../../src/cluster/list-watch.js';

/**
 * A scripted API server for one collection: paged lists over a sorted snapshot,
 * watches whose events the test sends, and failures queued per call.
 */
class FakeApi implements ListWatchTransport {
  objects = new Map<string, { name: string; rv: string }>();
  rv = 100;
  listCalls: Array<Record<string, string>> = [];
  watchCalls: Array<Record<string, string>> = [];
  /** Thrown by the next listPage calls, in order (undefined = answer normally). */
  listFailures: Array<unknown> = [];
  watchFailures: Array<unknown> = [];
  /** Called before a page is answered, so a test can look at what was applied so far. */
  beforePage: ((query: Record<string, string>) => void) | undefined;
  private current: { onEvent: (type: string, object: unknown) => void; onDone: (err: unknown) => void } | undefined;
  private watchOpened: (() => void) | undefined;
  private snapshots = new Map<string, string[]>();

  put(name: string): void {
    this.objects.set(name, { name, rv: String(++this.rv) });
  }

  async listPage(_path: string, query: Record<string, string>, _signal: AbortSignal, onItem: (item: unknown) => void): Promise<ListPageEnd> {
    this.listCalls.push(query);
    const failure = this.listFailures.shift();
    if (failure !== undefined) throw failure;
    this.beforePage?.(query);
    const limit = Number(query['limit']);
    let names: string[];
    let start = 0;
    if (query['continue']) {
      const [id, offset] = query['continue'].split(':') as [string, string];
      names = this.snapshots.get(id) as string[];
      start = Number(offset);
    } else {
      names = [...this.objects.keys()].sort();
      this.snapshots.set(String(this.rv), names);
    }
    const page = names.slice(start, start + limit);
    const next = start + limit < names.length ? `${query['continue']?.split(':')[0] ?? String(this.rv)}:${start + limit}` : '';
    for (const name of page) onItem({ metadata: { name, resourceVersion: this.objects.get(name)?.rv ?? '1' } });
    return {
      resourceVersion: String(this.rv),
      continue: next,
    };
  }

  async watch(
    _path: string,
    query: Record<string, string>,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    this.watchCalls.push(query);
    const failure = this.watchFailures.shift();
    if (failure !== undefined) throw failure;
    this.current = { onEvent, onDone };
    this.watchOpened?.();
    return { abort: () => this.close(null) };
  }

  /** Resolves when a watch is open (now or later). */
  async watching(): Promise<void> {
    if (this.current) return;
    await new Promise<void>((resolve) => (this.watchOpened = resolve));
  }

  event(type: string, name: string, extra: Record<string, unknown> = {}): void {
    if (type !== 'DELETED') this.put(name);
    else this.objects.delete(name);
    const rv = type === 'DELETED' ? String(++this.rv) : (this.objects.get(name)?.rv as string);
    this.current?.onEvent(type, { metadata: { name, resourceVersion: rv }, ...extra });
  }

  bookmark(rv: string): void {
    this.current?.onEvent('BOOKMARK', { metadata: { resourceVersion: rv } });
  }

  raw(type: string, object: unknown): void {
    this.current?.onEvent(type, object);
  }

  close(err: unknown): void {
    const current = this.current;
    this.current = undefined;
    current?.onDone(err);
  }
}

const FAST: ListWatchTimings = { pageSize: 2, initialBackoffMs: 1, maxBackoffMs: 4, minWatchSeconds: 300, maxWatchSeconds: 600 };

/** What a consumer of the list-watch holds: name -> resourceVersion. */
function recordingHandlers(): ListWatchHandlers & { held: Map<string, string>; log: string[] } {
  const held = new Map<string, string>();
  const log: string[] = [];
  return {
    held,
    log,
    upsert(object) {
      const meta = (object as { metadata: { name: string; resourceVersion: string } }).metadata;
      held.set(meta.name, meta.resourceVersion);
      log.push(`upsert ${meta.name}`);
    },
    remove(key) {
      held.delete(key);
      log.push(`remove ${key}`);
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function gone(): unknown {
  return Object.assign(new Error('Gone'), { statusCode: 410 });
}

describe('ListWatch', () => {
  let lw: ListWatch | undefined;
  afterEach(async () => {
    await lw?.stop();
    lw = undefined;
  });

  it('lists in pages, applying each page before asking for the next, then watches from the list version', async () => {
    const api = new FakeApi();
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.put(name);
    const handlers = recordingHandlers();
    const heldWhenAsked: number[] = [];
    api.beforePage = () => heldWhenAsked.push(handlers.held.size);
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    expect(lw.synced).to.equal(true);
    expect([...handlers.held.keys()].sort()).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(api.listCalls.map((q) => q['limit'])).to.deep.equal(['2', '2', '2']);
    expect(api.listCalls[0]).to.not.have.property('continue');
    expect(api.listCalls[1]?.['continue']).to.be.a('string');
    // Each page was in the consumer's hands before the next one was requested.
    expect(heldWhenAsked).to.deep.equal([0, 2, 4]);
    await api.watching();
    expect(api.watchCalls[0]?.['resourceVersion']).to.equal('105');
    expect(api.watchCalls[0]?.['allowWatchBookmarks']).to.equal('true');
  });

  it('applies watch events and resumes the next watch from the last event or bookmark', async () => {
    const api = new FakeApi();
    api.put('a');
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    await api.watching();
    api.event('ADDED', 'b');
    api.event('MODIFIED', 'a');
    api.event('DELETED', 'b');
    expect([...handlers.held.keys()]).to.deep.equal(['a']);
    expect(handlers.held.get('a')).to.equal('103');
    api.bookmark('150');
    expect(lw.resourceVersion).to.equal('150');
    api.close(null);
    await until(() => api.watchCalls.length === 2, 'the second watch');
    expect(api.watchCalls[1]?.['resourceVersion']).to.equal('150');
    // A clean close is not a relist.
    expect(api.listCalls).to.have.length(1);
  });

  it('relists in place on 410 Gone: updates what is still there, removes only what is gone', async () => {
    const api = new FakeApi();
    for (const name of ['a', 'b', 'c']) api.put(name);
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    await api.watching();
    // Changes the watch never delivered: b deleted, d added, a modified.
    api.objects.delete('b');
    api.put('d');
    api.put('a');
    handlers.log.length = 0;
    api.raw('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await until(() => api.watchCalls.length === 2, 'the watch after the relist');
    expect([...handlers.held.keys()].sort()).to.deep.equal(['a', 'c', 'd']);
    expect(handlers.held.get('a')).to.equal(String(api.rv));
    // Upserts in place, then one removal at the end: never a second copy to swap in.
    expect(handlers.log).to.deep.equal(['upsert a', 'upsert c', 'upsert d', 'remove b']);
    expect(lw.synced).to.equal(true);
  });

  it('starts the list over when a continue token expires mid-list', async () => {
    const api = new FakeApi();
    for (const name of ['a', 'b', 'c']) api.put(name);
    api.listFailures = [undefined, gone()];
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    expect(lw.synced).to.equal(true);
    expect(api.listCalls.map((q) => q['continue'] ?? 'first')).to.deep.equal(['first', api.listCalls[1]?.['continue'], 'first', api.listCalls[3]?.['continue']]);
    expect([...handlers.held.keys()].sort()).to.deep.equal(['a', 'b', 'c']);
  });

  it('reports a failing list, retries with backoff, and is healthy again once a list succeeds', async () => {
    const api = new FakeApi();
    api.put('a');
    api.listFailures = [Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }), new Error('still down')];
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    expect(lw.synced).to.equal(false);
    expect(lw.failingSince).to.be.a('number');
    expect(lw.lastError).to.equal('connection refused');
    await until(() => lw?.synced === true, 'sync after retries');
    expect(lw.failingSince).to.equal(undefined);
    expect(api.listCalls).to.have.length(3);
  });

  it('after a failed watch resumes from the same version rather than relisting', async () => {
    const api = new FakeApi();
    api.put('a');
    api.watchFailures = [Object.assign(new Error('Internal Server Error'), { statusCode: 500 })];
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    await api.watching();
    expect(api.watchCalls).to.have.length(2);
    expect(api.watchCalls[1]?.['resourceVersion']).to.equal(api.watchCalls[0]?.['resourceVersion']);
    expect(api.listCalls).to.have.length(1);
    expect(lw.failingSince).to.equal(undefined);
    // A stream that breaks is a failure too, and also resumes.
    api.close(new Error('socket hang up'));
    await until(() => api.watchCalls.length === 3, 'the watch after the broken stream');
    expect(api.listCalls).to.have.length(1);
  });

  it('a watch refused with 410 relists', async () => {
    const api = new FakeApi();
    api.put('a');
    api.watchFailures = [gone()];
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers: recordingHandlers() }, FAST);
    await lw.start();
    await api.watching();
    expect(api.listCalls).to.have.length(2);
  });

  it('ignores objects without a name and event types it does not know', async () => {
    const api = new FakeApi();
    api.put('a');
    const handlers = recordingHandlers();
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers }, FAST);
    await lw.start();
    await api.watching();
    api.raw('ADDED', { metadata: {} });
    api.raw('ADDED', null);
    api.raw('SOMETHING', { metadata: { name: 'x' } });
    api.raw('BOOKMARK', 42);
    expect([...handlers.held.keys()]).to.deep.equal(['a']);
  });

  it('stop() ends the watch and no list or watch follows', async () => {
    const api = new FakeApi();
    api.put('a');
    lw = new ListWatch(api, { what: 'things', path: '/things', handlers: recordingHandlers() }, FAST);
    await lw.start();
    await api.watching();
    await lw.stop();
    await new Promise((r) => setTimeout(r, 20));
    expect(api.watchCalls).to.have.length(1);
    expect(api.listCalls).to.have.length(1);
  });
});
