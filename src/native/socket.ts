// SCM_RIGHTS over unix sockets: runc's --console-socket sends the pty master this way.

import { native } from './binding';

export interface ReceivedFd {
  /** The received descriptor (close-on-exec); the caller owns it. */
  fd: number;
  /** The bytes sent along with it (runc sends the console name). */
  data: Buffer;
}

/**
 * Receive one message with a descriptor from a connected unix socket fd (recvmsg).
 * Returns null at EOF. Throws EAGAIN on a non-blocking socket with nothing queued,
 * ENOMSG if a message arrived without a descriptor (its data is lost). Extra
 * descriptors in one message are closed. The socket must not also be read by a
 * net.Socket: libuv's read() would discard the descriptor.
 */
export function recvFd(socketFd: number): ReceivedFd | null {
  return native().recvFd(socketFd);
}

/** Send `fd` over a connected unix socket fd with `data` (one NUL byte if empty).
 * Returns the number of data bytes sent. */
export function sendFd(socketFd: number, fd: number, data: Buffer | string = ''): number {
  return native().sendFd(socketFd, fd, data);
}

/** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): two connected, blocking fds. */
export function socketpair(): [number, number] {
  return native().socketpair();
}
