import { expect } from 'chai';
import { Link, parseRoute } from '../e2e/real-node/throttle.js';

describe('lab bandwidth link', () => {
  it('lets the first chunk go at once and books the link for its transfer time', () => {
    const link = new Link(1_000_000);
    // 500 kB at 1 MB/s keeps the link busy for 500 ms from now.
    expect(link.reserve(500_000, 1000)).to.equal(500);
  });

  it('queues chunks behind each other: parallel connections share one budget', () => {
    const link = new Link(1_000_000);
    link.reserve(500_000, 1000);
    // Another connection's chunk at the same instant waits for the first one.
    expect(link.reserve(500_000, 1000)).to.equal(1000);
    expect(link.reserve(100_000, 1200)).to.equal(900);
  });

  it('does not bank idle time: after a pause the rate is the same, not a burst', () => {
    const link = new Link(1_000_000);
    link.reserve(100_000, 0);
    expect(link.reserve(100_000, 10_000)).to.equal(100);
  });

  it('refuses a rate that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new Link(bad), String(bad)).to.throw(RangeError);
  });

  it('parses LISTEN:TARGET routes and rejects anything else', () => {
    expect(parseRoute('5201:5100')).to.deep.equal({ listenPort: 5201, targetPort: 5100 });
    for (const bad of ['5201', '5201:', 'a:b', '5201:5100:1', '--lab=/tmp/x']) expect(() => parseRoute(bad), bad).to.throw(/LISTEN_PORT:TARGET_PORT/);
  });
});
