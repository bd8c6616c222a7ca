// Descriptors the shim needs and Node cannot make: anonymous pipes for container stdio,
// the pty window size (TIOCSWINSZ on runc's console master), the credentials of a unix
// socket peer (SO_PEERCRED, for the ttrpc same-user check without a subprocess) and
// eventfds (cgroup v1 memory.oom_control notifications).

import { native } from './binding';

// eventfd(2) flags (generic Linux values; the addon exports the same names).
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** pipe2(O_CLOEXEC): [readFd, writeFd], both blocking; close them with fs.closeSync. */
export function pipe(): [number, number] {
  return native().pipe();
}

/** ioctl(fd, TIOCSWINSZ): set a terminal's size (on a pty master it reaches the slave
 * side and its foreground process group gets SIGWINCH). */
export function setWinsize(fd: number, rows: number, cols: number): void {
  native().setWinsize(fd, rows, cols);
}

/** ioctl(fd, TIOCGWINSZ). */
export function getWinsize(fd: number): { rows: number; cols: number } {
  return native().getWinsize(fd);
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** getsockopt(SO_PEERCRED) on a connected unix socket: the peer's credentials at connect time. */
export function getPeerCred(socketFd: number): PeerCred {
  return native().getPeerCred(socketFd);
}

/** eventfd(2); flags default to EFD_CLOEXEC | EFD_NONBLOCK. */
export function eventfd(initval = 0, flags = EFD_CLOEXEC | EFD_NONBLOCK): number {
  return native().eventfd(initval, flags);
}
