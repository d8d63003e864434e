/**
 * The injection record arrives on the pod, from whoever created it, so it is read
 * as untrusted input (src/admission/injection.ts): anything malformed is no record,
 * a malformed entry is no entry, and a term counts as ours only when it has exactly
 * our shape and the record names it.
 */
import { expect } from 'chai';
import {
  hasOwnRequired,
  MAX_RECORD_NODES,
  MAX_RECORD_SHORTLIST,
  ownPreferredShape,
  preferredTerm,
  readRecord,
  recognizePreferred,
  requiredNameTerm,
  requiredTermWithNode,
  type InjectionRecord,
} from '../../src/admission/injection.js';
import { HOSTNAME_LABEL } from '../../src/admission/shortlist.js';

const text = (v: unknown): string => JSON.stringify(v);
const preferred = (nodes: Array<[string, number]>): InjectionRecord => ({ v: 2, mode: 'preferred', nodes });

describe('injection record', () => {
  describe('readRecord', () => {
    it('reads the three modes, and version 1 records for their nodes only', () => {
      expect(readRecord(text({ v: 2, mode: 'preferred', nodes: [['a', 80]] }))).to.deep.equal(preferred([['a', 80]]));
      expect(readRecord(text({ v: 2, mode: 'required', nodes: [['a', 100]] }))).to.deep.equal({ v: 2, mode: 'required', nodes: [['a', 100]] });
      expect(readRecord(text({ v: 2, mode: 'shortlist', nodes: [['a', 1]], shortlist: ['h1', 'h2'] }))).to.deep.equal({
        v: 2,
        mode: 'shortlist',
        nodes: [['a', 1]],
        shortlist: ['h1', 'h2'],
      });
      expect(readRecord(text({ v: 1, mode: 'required', nodes: [['a', 80]], required: [{ x: 1 }] }))).to.deep.equal({ v: 2, mode: 'required', nodes: [['a', 80]] });
    });

    const noRecord: Array<[string, unknown]> = [
      ['no annotation', undefined],
      ['a number', 7],
      ['text that is not JSON', '{"v":2,'],
      ['a JSON list', '[]'],
      ['version 3', text({ v: 3, mode: 'preferred', nodes: [] })],
      ['a version given as text', text({ v: '2', mode: 'preferred', nodes: [] })],
      ['an unknown mode', text({ v: 2, mode: 'pinned', nodes: [] })],
      ['nodes that are not a list', text({ v: 2, mode: 'preferred', nodes: { a: 80 } })],
      ['more nodes than the policy lets us name', text({ v: 2, mode: 'preferred', nodes: Array.from({ length: 21 }, (_, i) => [`n${i}`, 80]) })],
      ['a shortlist record without a shortlist', text({ v: 2, mode: 'shortlist', nodes: [] })],
      ['a shortlist that is not all text', text({ v: 2, mode: 'shortlist', nodes: [], shortlist: ['h1', 7] })],
      ['a shortlist longer than any we write', text({ v: 2, mode: 'shortlist', nodes: [], shortlist: Array.from({ length: MAX_RECORD_SHORTLIST + 1 }, (_, i) => `h${i}`) })],
      ['text far longer than any record we write', text({ v: 2, mode: 'preferred', nodes: [['a', 80]], pad: 'x'.repeat(20 * (253 + 16) + MAX_RECORD_SHORTLIST * 80 + 256) })],
    ];
    for (const [what, raw] of noRecord) {
      it(`treats ${what} as no record`, () => {
        expect(readRecord(raw, 20)).to.equal(undefined);
      });
    }

    it('accepts exactly maxNodes nodes and a full shortlist', () => {
      const nodes = Array.from({ length: 20 }, (_, i) => [`n${i}`, 80]);
      expect(readRecord(text({ v: 2, mode: 'preferred', nodes }), 20)?.nodes).to.have.length(20);
      const shortlist = Array.from({ length: MAX_RECORD_SHORTLIST }, (_, i) => `h${i}`);
      expect(readRecord(text({ v: 2, mode: 'shortlist', nodes: [], shortlist }))?.shortlist).to.have.length(MAX_RECORD_SHORTLIST);
      const many = Array.from({ length: MAX_RECORD_NODES + 1 }, (_, i) => [`n${i}`, 80]);
      expect(readRecord(text({ v: 2, mode: 'preferred', nodes: many }), 5000), 'never more than MAX_RECORD_NODES').to.equal(undefined);
    });

    it('drops each malformed entry and keeps the rest', () => {
      const entries = [
        ['ok', 80],
        'bare',
        ['short'],
        ['three', 80, 'x'],
        [7, 80],
        ['', 80],
        ['n'.repeat(254), 80],
        ['n'.repeat(253), 80],
        ['zero', 0],
        ['heavy', 101],
        ['half', 50.5],
        ['text', '80'],
        ['min', 1],
        ['max', 100],
      ];
      expect(readRecord(text({ v: 2, mode: 'preferred', nodes: entries }), 100)?.nodes).to.deep.equal([
        ['ok', 80],
        ['n'.repeat(253), 80],
        ['min', 1],
        ['max', 100],
      ]);
    });
  });

  describe('ownPreferredShape', () => {
    it('recognizes exactly the term we write', () => {
      expect(ownPreferredShape(preferredTerm('a', 80))).to.deep.equal(['a', 80]);
    });

    const notOurs: Array<[string, unknown]> = [
      ['null', null],
      ['a weight given as text', { weight: '80', preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] } }],
      ['no preference', { weight: 80 }],
      ['an extra key on the term', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] }, note: 'x' }],
      ['an empty matchExpressions beside matchFields', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }], matchExpressions: [] } }],
      ['two field requirements', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }, { key: 'metadata.name', operator: 'In', values: ['b'] }] } }],
      ['matchFields that is not a list', { weight: 80, preference: { matchFields: { key: 'metadata.name' } } }],
      ['a requirement that is not an object', { weight: 80, preference: { matchFields: ['metadata.name'] } }],
      ['another field', { weight: 80, preference: { matchFields: [{ key: 'metadata.namespace', operator: 'In', values: ['a'] }] } }],
      ['NotIn', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['a'] }] } }],
      ['two values', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a', 'b'] }] } }],
      ['values that are not a list', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: 'a' }] } }],
      ['a value that is not text', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: [7] }] } }],
      ['an extra key on the requirement', { weight: 80, preference: { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'], x: 1 }] } }],
    ];
    for (const [what, term] of notOurs) {
      it(`leaves to the user a term with ${what}`, () => {
        expect(ownPreferredShape(term)).to.equal(undefined);
      });
    }
  });

  describe('recognizePreferred', () => {
    const user = { weight: 80, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } };

    it('finds our terms the record names, one per entry, from the end', () => {
      const terms = [preferredTerm('a', 80), user, preferredTerm('b', 40), preferredTerm('a', 80)];
      expect(recognizePreferred(terms, preferred([['a', 80], ['b', 40]]))).to.deep.equal([2, 3]);
      expect(recognizePreferred(terms, preferred([['a', 80], ['a', 80]]))).to.deep.equal([0, 3]);
      expect(recognizePreferred(terms, preferred([['a', 40]])), 'the weight is part of the match').to.deep.equal([]);
    });

    it('finds nothing without a record, for a required record, or for an empty one', () => {
      const terms = [preferredTerm('a', 80)];
      expect(recognizePreferred(terms, undefined)).to.deep.equal([]);
      expect(recognizePreferred(terms, { v: 2, mode: 'required', nodes: [['a', 80]] })).to.deep.equal([]);
      expect(recognizePreferred(terms, preferred([]))).to.deep.equal([]);
      expect(recognizePreferred(terms, { v: 2, mode: 'shortlist', nodes: [['a', 80]], shortlist: [] })).to.deep.equal([0]);
    });
  });

  describe('hasOwnRequired', () => {
    const required: InjectionRecord = { v: 2, mode: 'required', nodes: [['a', 100]] };
    const shortlist: InjectionRecord = { v: 2, mode: 'shortlist', nodes: [], shortlist: ['h1', 'h2'] };
    const hostnames = (values: unknown) => ({ matchExpressions: [{ key: 'zone', operator: 'Exists' }, { key: HOSTNAME_LABEL, operator: 'In', values }] });

    it('sees a required injection by a node the record names', () => {
      expect(requiredNameTerm('a'), 'the term the tables below write out').to.deep.equal(nameTerm);
      expect(hasOwnRequired([{ matchExpressions: [] }, requiredNameTerm('a')], required)).to.equal(true);
      expect(hasOwnRequired([{ matchFields: [{ key: 'x', operator: 'In', values: ['y'] }, requiredNameTerm('a').matchFields[0]] }], required)).to.equal(true);
    });

    // Written out, not built by requiredNameTerm: tables are built while the file loads,
    // and core code run then would need a fresh process per mutant under Stryker.
    const nameTerm = { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a'] }] };
    const notRequired: Array<[string, unknown[] | null, InjectionRecord | undefined]> = [
      ['no terms', null, required],
      ['no record', [nameTerm], undefined],
      ['a node the record does not name', [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }], required],
      ['a required record without nodes', [nameTerm], { v: 2, mode: 'required', nodes: [] }],
      ['a preferred record', [nameTerm], preferred([['a', 100]])],
      ['NotIn the named node', [{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['a'] }] }], required],
      ['another field', [{ matchFields: [{ key: 'metadata.namespace', operator: 'In', values: ['a'] }] }], required],
      ['two values', [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['a', 'b'] }] }], required],
      ['values that are not a list', [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: 'a' }] }], required],
      ['a term that is not an object', ['a'], required],
      ['matchFields that is not a list', [{ matchFields: nameTerm.matchFields[0] }], required],
      ['a shortlist other than the record', [hostnames(['h1'])], shortlist],
      ['the shortlist on another label', [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['h1', 'h2'] }] }], shortlist],
      ['the shortlist with NotIn', [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'NotIn', values: ['h1', 'h2'] }] }], shortlist],
      ['a shortlist record without a shortlist', [hostnames(['h1', 'h2'])], { v: 2, mode: 'shortlist', nodes: [] }],
    ];
    for (const [what, terms, record] of notRequired) {
      it(`sees no required injection with ${what}`, () => {
        expect(hasOwnRequired(terms, record)).to.equal(false);
      });
    }

    it('sees a shortlist injection in any term carrying exactly the recorded shortlist', () => {
      expect(hasOwnRequired([{ matchExpressions: [] }, hostnames(['h1', 'h2'])], shortlist)).to.equal(true);
    });
  });

  describe('requiredTermWithNode', () => {
    it("ANDs the node into the user's term, keeping its own field requirements", () => {
      const user = { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }], matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['x'] }] };
      expect(requiredTermWithNode(user, 'n1', false)).to.deep.equal({ ...user, matchFields: [...user.matchFields, requiredNameTerm('n1').matchFields[0]] });
      expect(requiredTermWithNode(user, 'n1', true)).to.equal(user);
      expect(requiredTermWithNode(null, 'n1', false)).to.deep.equal(requiredNameTerm('n1'));
      expect(requiredTermWithNode({ matchFields: 'x' }, 'n1', false)).to.deep.equal({ matchFields: [requiredNameTerm('n1').matchFields[0]] });
    });
  });
});
