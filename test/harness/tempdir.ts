// Temporary directories for tests, and cleanup that first unmounts whatever a daemon
// left mounted below them.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TempRoot {
  /** Absolute, symlink-free path of the new directory. */
  readonly path: string;
  /** Unmounts everything mounted at or below `path` (deepest first), then removes it. */
  cleanup(): Promise<void>;
}

/** Creates a fresh directory under os.tmpdir(), e.g. makeTempRoot('berthd-') → /tmp/berthd-AbC123. */
export function makeTempRoot(prefix = 'berth-test-'): TempRoot {
  const base = fs.realpathSync(os.tmpdir());
  const dir = fs.mkdtempSync(path.join(base, prefix));
  let done: Promise<void> | undefined;
  return {
    path: dir,
    cleanup(): Promise<void> {
      done ??= removeTree(dir);
      return done;
    },
  };
}

export interface MountEntry {
  id: number;
  parentId: number;
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) of mountinfo. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo (the test process's mount namespace, shared with the daemons). */
export function readMounts(): MountEntry[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (fields.length < 5 || sep < 0) continue;
    out.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      mountPoint: unescapeMountField(fields[4] ?? ''),
      fsType: fields[sep + 1] ?? '',
      source: unescapeMountField(fields[sep + 2] ?? ''),
    });
  }
  return out;
}

function isAtOrBelow(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** Mounts at or below dir, deepest (and, at equal depth, most recent) first. */
export function mountsBelow(dir: string): MountEntry[] {
  const resolved = resolveQuiet(dir);
  const all = readMounts();
  const hits = all
    .map((m, order) => ({ m, order }))
    .filter(({ m }) => isAtOrBelow(m.mountPoint, resolved));
  hits.sort((a, b) => {
    const da = a.m.mountPoint.split('/').length;
    const db = b.m.mountPoint.split('/').length;
    return da !== db ? db - da : b.order - a.order;
  });
  return hits.map((h) => h.m);
}

function resolveQuiet(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/**
 * Lazily unmounts (`umount -l`) everything mounted at or below dir, deepest first,
 * repeating while mounts remain (stacked mounts, mounts that propagated back).
 * Returns the mount points it unmounted. Throws if mounts are still there at the end.
 */
export async function unmountBelow(dir: string): Promise<string[]> {
  const unmounted: string[] = [];
  for (let round = 0; round < 20; round++) {
    const mounts = mountsBelow(dir);
    if (mounts.length === 0) return unmounted;
    for (const m of mounts) {
      const r = await run('umount', ['-l', m.mountPoint]);
      if (r.code === 0) unmounted.push(m.mountPoint);
    }
  }
  const left = mountsBelow(dir);
  if (left.length > 0) {
    throw new Error(`could not unmount below ${dir}: ${left.map((m) => m.mountPoint).join(', ')}`);
  }
  return unmounted;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Unmounts everything below dir and removes it. Refuses paths outside os.tmpdir()
 * so a bad argument can never remove a real directory.
 */
export async function removeTree(dir: string): Promise<void> {
  const base = fs.realpathSync(os.tmpdir());
  const resolved = resolveQuiet(dir);
  if (!isAtOrBelow(resolved, base) || resolved === base) {
    throw new Error(`refusing to remove ${dir}: not below ${base}`);
  }
  if (!fs.existsSync(resolved)) return;
  await unmountBelow(resolved);
  let lastErr: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await fs.promises.rm(resolved, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch (err) {
      lastErr = err;
      // A lazily-detached mount or an exiting process may still hold something for a moment.
      await sleep(100 * (attempt + 1));
      await unmountBelow(resolved);
    }
  }
  throw new Error(`could not remove ${resolved}: ${String(lastErr)}`);
}
