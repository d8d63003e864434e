import { expect } from 'chai';
import { PatchBuildError, checkPatchApplies, escapePointerToken, pointer, removeValue, setValue } from '../../src/admission/json-patch.js';

describe('json-patch', () => {
  it('escapes ~ before / (RFC 6901)', () => {
    expect(escapePointerToken('image-locality.dev/injected')).to.equal('image-locality.dev~1injected');
    expect(escapePointerToken('a~1b')).to.equal('a~01b');
    expect(pointer(['metadata', 'annotations', 'a/b~c'])).to.equal('/metadata/annotations/a~1b~0c');
  });

  it('creates the first missing parent with the rest nested inside', () => {
    const ops = setValue({ metadata: {} }, ['metadata', 'annotations', 'k/x'], 'v');
    expect(ops).to.deep.equal([{ op: 'add', path: '/metadata/annotations', value: { 'k/x': 'v' } }]);
    const check = checkPatchApplies({ metadata: {} }, ops);
    expect(check).to.deep.equal({ ok: true, patched: { metadata: { annotations: { 'k/x': 'v' } } } });
  });

  it('treats a null parent as missing', () => {
    const doc = { metadata: { annotations: null } };
    const ops = setValue(doc, ['metadata', 'annotations', 'k'], 'v');
    expect(ops).to.deep.equal([{ op: 'add', path: '/metadata/annotations', value: { k: 'v' } }]);
    expect(checkPatchApplies(doc, ops).ok).to.equal(true);
  });

  it('replaces an existing value', () => {
    const doc = { spec: { affinity: { nodeAffinity: { a: 1 } } } };
    const ops = setValue(doc, ['spec', 'affinity', 'nodeAffinity'], { b: 2 });
    expect(ops).to.deep.equal([{ op: 'replace', path: '/spec/affinity/nodeAffinity', value: { b: 2 } }]);
  });

  it('refuses to write through a parent that is not an object', () => {
    expect(() => setValue({ metadata: { annotations: 'x' } }, ['metadata', 'annotations', 'k'], 'v')).to.throw(PatchBuildError, /metadata\/annotations/);
    try {
      setValue({ spec: { affinity: 7 } }, ['spec', 'affinity', 'nodeAffinity', 'x'], 1);
      expect.fail('expected a PatchBuildError');
    } catch (err) {
      expect(err, 'names the parent that is in the way').to.have.property('path', '/spec/affinity');
    }
  });

  it('removes only what exists', () => {
    expect(removeValue({ a: { b: 1 } }, ['a', 'b'])).to.deep.equal([{ op: 'remove', path: '/a/b' }]);
    expect(removeValue({ a: {} }, ['a', 'b'])).to.deep.equal([]);
  });

  it("leaves the caller's document as it was, unless told it may consume it; never changes the patch", () => {
    const ops = [{ op: 'add' as const, path: '/spec/list/-', value: { name: 'n' } }];
    const doc = { spec: { list: [] as unknown[] } };
    const kept = checkPatchApplies(doc, ops);
    expect(kept.ok && kept.patched).to.deep.equal({ spec: { list: [{ name: 'n' }] } });
    expect(doc).to.deep.equal({ spec: { list: [] } });
    const consumed = checkPatchApplies(doc, ops, { consume: true });
    expect(consumed.ok && consumed.patched).to.deep.equal({ spec: { list: [{ name: 'n' }] } });
    (doc.spec.list[0] as { name: string }).name = 'changed';
    expect(ops[0]!.value).to.deep.equal({ name: 'n' });
  });

  it('reports a patch that would not apply instead of throwing', () => {
    const check = checkPatchApplies({}, [{ op: 'replace', path: '/spec/x', value: 1 }]);
    expect(check.ok).to.equal(false);
  });
});
