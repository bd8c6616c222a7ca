// Kernel file locks and non-blocking writes for the daemon itself: the root lock
// (flock(2), released by the kernel when berthd dies however it dies) and the log sink
// (a stuck stderr reader must never block the event loop).

import { native } from './binding';

/** flock(fd, LOCK_EX|LOCK_NB) (LOCK_SH if !exclusive): true if taken, false if another
 * open file description holds a conflicting lock. Other errors throw. */
export function flockTry(fd: number, exclusive = true): boolean {
  return native().flockTry(fd, exclusive);
}

/** Set or clear O_NONBLOCK on fd's open file description (shared with every dup of it). */
export function setNonBlocking(fd: number, on: boolean): void {
  native().setNonBlocking(fd, on);
}

/** send(fd, buffer, MSG_DONTWAIT|MSG_NOSIGNAL) on a socket: bytes sent; EAGAIN is thrown
 * (code 'EAGAIN') when the socket buffer is full. */
export function sendNoWait(fd: number, buffer: Buffer): number {
  return native().sendNoWait(fd, buffer);
}
