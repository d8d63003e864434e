/** Warnings kubectl shows: the user's text cut to fit 120 characters, never mid-character. */
import { expect } from 'chai';
import { boundedWarning, invalidImageWarnings, MAX_WARNING_LENGTH } from '../../src/admission/warnings.js';

const BEFORE = 'image "';
const AFTER = '" is bad';
const ROOM = MAX_WARNING_LENGTH - BEFORE.length - AFTER.length;
const codePoints = (s: string): number => Array.from(s).length;

describe('admission warnings', () => {
  it('keeps text that fits whole, up to exactly 120 characters', () => {
    expect(boundedWarning(BEFORE, 'nginx', AFTER)).to.equal('image "nginx" is bad');
    const exact = 'x'.repeat(ROOM);
    expect(boundedWarning(BEFORE, exact, AFTER)).to.equal(BEFORE + exact + AFTER);
    expect(codePoints(boundedWarning(BEFORE, exact, AFTER))).to.equal(MAX_WARNING_LENGTH);
  });

  it('cuts longer text to exactly 120 characters, ending the quoted part with an ellipsis', () => {
    for (const length of [ROOM + 1, ROOM * 2 + 2, ROOM * 2 + 3, 100_000]) {
      const w = boundedWarning(BEFORE, 'y'.repeat(length), AFTER);
      expect(w, `quoted text of ${length}`).to.equal(`${BEFORE}${'y'.repeat(ROOM - 1)}…${AFTER}`);
    }
  });

  it('counts characters outside the Basic Multilingual Plane as one and never splits them', () => {
    const emoji = '🐳'.repeat(ROOM + 10);
    const w = boundedWarning(BEFORE, emoji, AFTER);
    expect(codePoints(w)).to.equal(MAX_WARNING_LENGTH);
    expect(w).to.equal(`${BEFORE}${'🐳'.repeat(ROOM - 1)}…${AFTER}`);
    expect(boundedWarning(BEFORE, '🐳'.repeat(ROOM), AFTER)).to.equal(`${BEFORE}${'🐳'.repeat(ROOM)}${AFTER}`);
  });

  it('stays within 120 characters even when the fixed text alone is longer', () => {
    const w = boundedWarning('b'.repeat(100), 'quoted', 'a'.repeat(100));
    expect(w).to.equal(('b'.repeat(100) + '…' + 'a'.repeat(100)).slice(0, MAX_WARNING_LENGTH));
  });

  it('warns once per invalid image shown and once for the rest', () => {
    expect(invalidImageWarnings(['Bad!'], 1)).to.deep.equal(['image-locality: image "Bad!" is not a valid reference; not considered']);
    expect(invalidImageWarnings(['Bad!'], 4)).to.deep.equal([
      'image-locality: image "Bad!" is not a valid reference; not considered',
      'image-locality: 3 more invalid image references not considered',
    ]);
    expect(invalidImageWarnings([], 0)).to.deep.equal([]);
  });
});
