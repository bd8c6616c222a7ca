// Who is on the other end of an accepted unix socket.
//
// containerd's and the runc shim's ttrpc servers refuse peers whose SO_PEERCRED euid/egid
// differ from their own (ttrpc.UnixSocketRequireSameUser). berth reads SO_PEERCRED through
// its native addon (the credentials the peer had when it connected, as containerd sees
// them). Without the addon, it works them out from the kernel's socket tables instead:
//   1. our end's inode: readlink /proc/self/fd/<fd> = "socket:[<inode>]";
//   2. the peer socket: sock_diag (`ss -xnpH`, iproute2) lists every unix socket with its
//      peer's inode and the processes holding it (found through /proc/<pid>/fd);
//   3. each holder's effective uid/gid from /proc/<pid>/status.
// That fallback sees the holders' credentials now, not at connect(2) time, a socket shared
// by several processes must match for all of them, and it costs a process (`ss`) per
// connection. When the holders cannot be seen (peer gone, another pid namespace, no
// permission to read its /proc/<pid>/fd, no `ss`) the credentials are unknown and a
// 'same-user' check refuses.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { getPeerCred, nativeAvailable } from '../native';

export interface PeerProcess {
  pid: number;
  uid: number;
  gid: number;
}

export interface PeerCredentials {
  /** Inode of the peer's socket. */
  peerInode: number;
  /** The processes holding the peer socket (usually one). */
  processes: PeerProcess[];
}

/** The file descriptor under a net.Socket (libuv handle), if it has one. */
export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export function socketInode(fd: number): number | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Effective uid and gid of a process, from /proc/<pid>/status. */
export function processCredentials(pid: number): { uid: number; gid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(text);
  const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(text);
  if (!uid || !gid) return undefined;
  return { uid: Number(uid[1]), gid: Number(gid[1]) };
}

let ssPath: string | undefined;
/** iproute2's ss, also when PATH is minimal (daemons, shims). */
function ssBinary(): string {
  ssPath ??= ['/usr/bin/ss', '/bin/ss', '/usr/sbin/ss', '/sbin/ss'].find((p) => existsSync(p)) ?? 'ss';
  return ssPath;
}

function runSs(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(ssBinary(), ['-xnpH'], { timeout: 5000, maxBuffer: 16 << 20, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout) => {
      if (err) reject(new Error(`ss -xnpH: ${err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * Parses `ss -xnpH` output and returns the peer inode and the holder pids of the socket
 * whose peer is `inode`. Line shape:
 *   u_str ESTAB 0 0 <local addr> <local inode> <peer addr> <peer inode> [users:(("name",pid=N,fd=M),...)]
 * We look for the line whose *peer* is our socket: that line's holders are the peer.
 */
export function findPeerInSs(output: string, inode: number): { peerInode: number; pids: number[] } | undefined {
  const want = String(inode);
  for (const line of output.split('\n')) {
    const u = line.indexOf(' users:((');
    const head = (u >= 0 ? line.slice(0, u) : line).trimEnd();
    const users = u >= 0 ? line.slice(u) : '';
    // The peer inode is the last number; the peer address before it may hold spaces
    // (ss prints the listener's path there), so the local inode is the first number
    // after Netid, State, Recv-Q, Send-Q and the local address (usually '*').
    const tokens = head.split(/\s+/);
    if (tokens.length < 8 || tokens[tokens.length - 1] !== want) continue;
    const local = tokens.slice(5, -1).find((t) => /^\d+$/.test(t));
    if (local === undefined || local === want) continue;
    const peerInode = Number(local);
    const pids = new Set<number>();
    for (const pm of users.matchAll(/,pid=(\d+),fd=\d+\)/g)) pids.add(Number(pm[1]));
    return { peerInode, pids: [...pids] };
  }
  return undefined;
}

/** The peer of an accepted unix socket connection, or an Error saying why it is unknown. */
export async function peerCredentials(socket: Socket): Promise<PeerCredentials | Error> {
  const fd = socketFd(socket);
  if (fd === undefined) return new Error('no file descriptor for the connection');
  const inode = socketInode(fd);
  if (inode === undefined) return new Error(`fd ${fd} is not a socket`);
  let out: string;
  try {
    out = await runSs();
  } catch (err) {
    return err as Error;
  }
  const peer = findPeerInSs(out, inode);
  if (!peer) return new Error(`no peer found for socket inode ${inode}`);
  const processes: PeerProcess[] = [];
  for (const pid of peer.pids) {
    const cred = processCredentials(pid);
    if (cred) processes.push({ pid, ...cred });
  }
  if (processes.length === 0) return new Error(`no visible process holds peer socket inode ${peer.peerInode}`);
  return { peerInode: peer.peerInode, processes };
}

/** containerd's UnixSocketRequireSameUser: the peer's euid and egid (SO_PEERCRED) equal
 * ours; without the native addon, every holder's in the socket tables. */
export async function checkSameUser(socket: Socket): Promise<Error | undefined> {
  if (!nativeAvailable()) return checkSameUserBySocketTables(socket);
  const fd = socketFd(socket);
  if (fd === undefined) return new Error('ttrpc: cannot determine peer credentials: no file descriptor for the connection');
  let cred: PeerProcess;
  try {
    cred = getPeerCred(fd);
  } catch (err) {
    return new Error(`ttrpc: cannot determine peer credentials: ${(err as Error).message}`);
  }
  return sameUser([cred]);
}

/** checkSameUser from the socket tables (`ss`), for when the native addon is missing. */
export async function checkSameUserBySocketTables(socket: Socket): Promise<Error | undefined> {
  const cred = await peerCredentials(socket);
  if (cred instanceof Error) return new Error(`ttrpc: cannot determine peer credentials: ${cred.message}`);
  return sameUser(cred.processes);
}

function sameUser(processes: readonly PeerProcess[]): Error | undefined {
  const uid = process.geteuid?.() ?? -1;
  const gid = process.getegid?.() ?? -1;
  for (const p of processes) {
    if (p.uid !== uid || p.gid !== gid) {
      return new Error(`ttrpc: invalid credentials: peer pid ${p.pid} uid ${p.uid} gid ${p.gid}, want uid ${uid} gid ${gid}: operation not permitted`);
    }
  }
  return undefined;
}
