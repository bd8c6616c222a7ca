// What a run of tests or benchmarks leaves in fixed places on the host, outside its temp roots.
//
// runc puts a container's cgroup at /<namespace>/<id> under each controller and removes
// the <id> level when the container is deleted, but not the <namespace> level it created
// (containerd leaves it too). Tests use many namespaces, so a run would leave dozens of
// empty cgroups behind on the host. HostLeftovers.snapshot() at the start and removeNew() at
// the end remove the cgroup directories that appeared in between and are empty now; rmdir(2) refuses a cgroup that still has
// processes or children, so nothing in use can be taken away.
//
// Likewise for what containerd's runc shim keeps in fixed places whatever the daemon's root
// (/run/containerd/runc/<namespace>, /run/containerd/fifo/<n>, /run/containerd/s/<socket>):
// entries that appeared during the run and are now empty directories, or sockets nobody
// listens on (a shim killed by a test), are removed.
//
// What appeared during a run may belong to another run on the same host (a developer's
// test next to a CI run): an empty cgroup another run made a moment ago, before it moved a
// process in. So each run registers itself (a file named by its pid under RUNS_DIR), and
// the run that ends while another one is still alive leaves everything to that one: it
// writes what it would have removed to RUNS_DIR/left-<pid>, and the last run to end removes
// those too (what the earlier run made before the later one started is in the later one's
// snapshot, so the later one would not remove it by itself).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const SHIM_DIRS = ['/run/containerd/runc', '/run/containerd/fifo', '/run/containerd/s'];

const CGROUP_ROOT = '/sys/fs/cgroup';

/** One file per test or bench run in progress on this host, named by its pid. */
const RUNS_DIR = '/run/berth-test-runs';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Other runs in progress (their files; the files of runs that died are removed). */
function otherRuns(): number[] {
  const others: number[] = [];
  for (const name of entries(RUNS_DIR).map((p) => path.basename(p))) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (alive(pid)) others.push(pid);
    else fs.rmSync(path.join(RUNS_DIR, name), { force: true });
  }
  return others;
}

/** The directories directly under each hierarchy root (v1: one per controller; v2: the root itself). */
function hierarchyRoots(): string[] {
  if (!fs.existsSync(CGROUP_ROOT)) return [];
  if (fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT];
  const roots: string[] = [];
  for (const e of fs.readdirSync(CGROUP_ROOT, { withFileTypes: true })) {
    if (!e.isDirectory()) continue; // v1 aliases (cpu -> cpu,cpuacct) are symlinks
    const dir = path.join(CGROUP_ROOT, e.name);
    if (fs.existsSync(path.join(dir, 'cgroup.procs'))) roots.push(dir);
  }
  return roots; // a hybrid host's /sys/fs/cgroup/unified (v2) is one of them
}

function childCgroups(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(dir, e.name));
  } catch {
    return [];
  }
}

/** Removes dir's empty descendants, then dir itself if it is empty now. */
function removeIfEmpty(dir: string): void {
  for (const child of childCgroups(dir)) removeIfEmpty(child);
  try {
    fs.rmdirSync(dir);
  } catch {
    // in use (processes or children left), or already gone
  }
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).map((e) => path.join(dir, e));
  } catch {
    return [];
  }
}

/** True when something accepts connections on the unix socket at p. */
function listening(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function removeIfStale(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  try {
    if (st.isDirectory()) fs.rmdirSync(p); // fails unless empty
    else if (st.isSocket() && !(await listening(p))) fs.rmSync(p);
  } catch {
    // not empty, or gone
  }
}

function present(): string[] {
  return [...hierarchyRoots().flatMap(childCgroups), ...SHIM_DIRS.flatMap(entries)];
}

/** What a run left to the runs still alive when it ended. */
interface LeftBehind {
  cgroups: string[];
  shimEntries: string[];
}

/** The host's cgroups and shim dirs' entries at one moment, to remove what appears after it. */
export class HostLeftovers {
  private constructor(private readonly before: ReadonlySet<string>) {}

  static snapshot(): HostLeftovers {
    if (process.getuid?.() === 0) {
      fs.mkdirSync(RUNS_DIR, { recursive: true });
      fs.writeFileSync(path.join(RUNS_DIR, String(process.pid)), '');
    }
    return new HostLeftovers(new Set(present()));
  }

  /** Removes what appeared since the snapshot and is unused now (root only), unless
   * another run is still in progress on this host. */
  async removeNew(): Promise<void> {
    if (process.getuid?.() !== 0) return;
    fs.rmSync(path.join(RUNS_DIR, String(process.pid)), { force: true });
    const cgroups = hierarchyRoots()
      .flatMap(childCgroups)
      .filter((d) => !this.before.has(d));
    const shimEntries = SHIM_DIRS.flatMap(entries).filter((p) => !this.before.has(p));
    if (otherRuns().length > 0) {
      const left: LeftBehind = { cgroups, shimEntries };
      fs.writeFileSync(path.join(RUNS_DIR, `left-${process.pid}`), JSON.stringify(left));
      return;
    }
    for (const name of entries(RUNS_DIR).map((p) => path.basename(p))) {
      if (!name.startsWith('left-')) continue;
      const file = path.join(RUNS_DIR, name);
      try {
        const left = JSON.parse(fs.readFileSync(file, 'utf8')) as LeftBehind;
        cgroups.push(...left.cgroups);
        shimEntries.push(...left.shimEntries);
      } catch {
        // torn by a run that died while writing it
      }
      fs.rmSync(file, { force: true });
    }
    for (const dir of new Set(cgroups)) removeIfEmpty(dir);
    for (const p of new Set(shimEntries)) await removeIfStale(p);
  }
}
