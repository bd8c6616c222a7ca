// The client's socket to the daemon. net.connect to a unix socket reports its connection
// only on the event loop's next turn, and node holds every write until then: a CLI's first
// calls, made while its start-up code still runs, reached the daemon ~2 ms late (`berth
// run`'s timeline, issue 15). A unix socket's connect() completes at once when the
// listener can take it, so the addon makes it in the call, and FdSocket (fd-socket.ts)
// carries the connected descriptor: the first frames go out as soon as they are written,
// and node's net and stream modules are not loaded for it.
import type * as net from 'node:net';
import { native } from '../native/binding';
import { FdSocket, type ClientSocket } from './fd-socket';

/** A socket connected to path: already connected when that could be done at once (the
 * native addon, a listener with room), else net.connect's socket, which reports what went
 * wrong the usual way ('error', then 'close'): ENOENT, ECONNREFUSED, or EAGAIN for a
 * listener whose backlog is full (libuv does not wait for room on a unix socket either). */
export function connectUnixSocket(path: string): ClientSocket {
  let fd = -1;
  try {
    fd = native().connectUnix(path);
  } catch {
    // No addon, or a connect that failed: net.connect says why, as it always has.
    fd = -1;
  }
  if (fd >= 0) return new FdSocket(fd);
  const { connect } = require('node:net') as typeof net;
  return connect(path);
}
