import { connect } from 'node:net';
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { FailedPreconditionError } from '../errdefs/errors';

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Make `path` free for a new listening socket: a stale socket file is removed, a live
 * one (another daemon) or a non-socket file is refused. */
export async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`${path} exists and is not a socket; refusing to replace it`);
  if (await canConnect(path)) {
    throw new FailedPreconditionError(`another daemon is already serving on ${path}`);
  }
  unlinkSync(path);
}

/** Only root (or the configured owner) may talk to the daemon: mode 0660. */
export function secureSocket(path: string, uid: number, gid: number): void {
  chmodSync(path, 0o660);
  chownSync(path, uid, gid);
}

export function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
