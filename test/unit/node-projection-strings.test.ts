import { expect } from 'chai';
import { Interner } from '../../src/cluster/interner.js';
import { projectNode } from '../../src/cluster/node-projection.js';

const node = (name: string, zone: string) => ({
  metadata: { name, labels: { 'topology.kubernetes.io/zone': zone, 'kubernetes.io/hostname': name, odd: 7 } },
  status: { allocatable: { cpu: '16', memory: '62180720Ki', 'hugepages-2Mi': '0' } },
});

describe('node projection with shared strings', () => {
  it('projects the same with and without an interner, and holds values that repeat across nodes once', () => {
    const strings = new Interner();
    const a = projectNode(node('node-a', 'zone-1') as never, strings);
    const b = projectNode(node('node-b', 'zone-1') as never, strings);
    expect(a).to.deep.equal(projectNode(node('node-a', 'zone-1') as never));
    expect(b?.labels).to.deep.equal({ 'topology.kubernetes.io/zone': 'zone-1', 'kubernetes.io/hostname': 'node-b' });
    expect(b?.allocatable).to.deep.equal({ cpu: '16', memory: '62180720Ki' });
    // zone-1, 16 and 62180720Ki once; each hostname once.
    expect(strings.size).to.equal(5);
  });

  it('empties its table at the limit instead of growing without end', () => {
    const strings = new Interner(3);
    for (const v of ['a', 'b', 'c', 'd']) strings.intern(v);
    expect(strings.size).to.equal(1);
    expect(strings.intern(42)).to.equal(42);
  });
});
