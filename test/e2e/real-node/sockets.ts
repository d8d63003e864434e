// Two sockets that live and die together: what every relay of the lab does.
import type net from 'node:net';

/** When either side errors or closes, both are destroyed: no half-open leftovers. */
export function closeTogether(a: net.Socket, b: net.Socket): void {
  const close = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on('error', close);
    s.on('close', close);
  }
}

/** Bytes flow both ways unchanged. */
export function joinSockets(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  closeTogether(a, b);
}
