// berthd under daemon faults (issue 12): a log sink that fails or stalls, a full disk at
// start, a stale lock file naming a live unrelated pid, a second daemon on the same root.
// Every test mounts its own small tmpfs (as root), stops what it starts by PID, and
// unmounts and removes what it made.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BERTHD_BIN, ctr, ctrOk, makeTempRoot, startBerthd, waitForSocket, type TempRoot } from '../harness';
import { waitForPidExit } from '../harness/process';
import { ContainerdClient } from '../../src/client/services';
import { callMetadata, unary } from '../../src/client/connection';

/** Things to undo after each test, last made first undone. */
let undo: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  const steps = undo.reverse();
  undo = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      process.stderr.write(`daemon-faults cleanup: ${(err as Error).message}\n`);
    }
  }
});

function tempDir(prefix: string): TempRoot {
  const t = makeTempRoot(prefix);
  undo.push(() => t.cleanup());
  return t;
}

/** A tmpfs of sizeKb at dir (made here), unmounted after the test. */
function mountTmpfs(dir: string, sizeKb: number): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0755`, 'tmpfs', dir]);
  undo.push(() => {
    execFileSync('umount', [dir]);
  });
  return dir;
}

/** Fill the file system holding dir with a file of zeros until at most leaveKb stay free. */
function fill(dir: string, leaveKb = 0, name = 'fill'): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) {
      const st = statfsSync(dir);
      if (st.bavail * st.bsize <= leaveKb * 1024) break;
      try {
        writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Spawn berthd with the given stderr/stdout descriptor; stopped (by PID) after the test. */
async function spawnBerthd(dir: string, out: number, logLevel = 'debug'): Promise<{ child: ChildProcess; address: string }> {
  const address = join(dir, 'berthd.sock');
  const child = spawn(
    process.execPath,
    [BERTHD_BIN, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', address, '--log-level', logLevel],
    { stdio: ['ignore', out, out] },
  );
  const pid = child.pid as number;
  undo.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      if (!(await waitForPidExit(pid, 10_000))) process.kill(pid, 'SIGKILL');
    }
  });
  await waitForSocket(address, { timeoutMs: 20_000 });
  return { child, address };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('berthd log sink faults', () => {
  it('keeps serving when its stderr file is on a full disk, and reports the lost lines once it is not', async () => {
    const t = tempDir('berth-faults-log-');
    const disk = mountTmpfs(join(t.path, 'disk'), 256);
    const logPath = join(disk, 'berthd.log');
    writeFileSync(logPath, '');
    const filler = fill(disk);
    const out = openSync(logPath, 'a');
    undo.push(() => closeSync(out));
    const { child, address } = await spawnBerthd(t.path, out);

    // Every call logs at debug: each of those writes fails with ENOSPC.
    for (let i = 0; i < 15; i++) {
      await ctrOk(address, ['version']);
      await ctrOk(address, ['namespaces', 'create', `ns${i}`]);
    }
    expect(alive(child)).toBe(true);
    expect((await ctrOk(address, ['namespaces', 'ls', '-q'])).stdout.split('\n')).toContain('ns14');

    // Space again: the next line is preceded by the count of lines lost.
    rmSync(filler);
    await ctrOk(address, ['version']);
    const log = readFileSync(logPath, 'utf8');
    const report = log.split('\n').find((l) => l.includes('"log lines lost"'));
    expect(report).toBeDefined();
    expect((JSON.parse(report as string) as { lost: number }).lost).toBeGreaterThanOrEqual(30);
    expect(log).toMatch(/"msg":"request"/);
    expect(await stopChild(child)).toBe(0);
  });

  it('keeps serving when the reader of its stderr pipe stops reading', async () => {
    const t = tempDir('berth-faults-pipe-');
    const fifo = join(t.path, 'stderr.fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader: open, then never read until the end (the pipe fills at 64 KiB).
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    undo.push(() => closeSync(reader));
    const writer = openSync(fifo, constants.O_WRONLY);
    undo.push(() => closeSync(writer));
    const { child, address } = await spawnBerthd(t.path, writer);

    // ~130 bytes of debug log per call: 6000 calls are more than the pipe's buffer (64 KiB)
    // and berthd's queue (256 KiB) together.
    const client = new ContainerdClient(address);
    try {
      for (let i = 0; i < 6000; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, () => unary((cb) => client.namespaces.List({}, callMetadata(), cb))),
        );
      }
    } finally {
      client.close();
    }
    // A blocked event loop would hang here (ctr gives up after its own timeout).
    const v = await ctr(address, ['version'], { timeoutMs: 10_000 });
    expect(v.code).toBe(0);
    expect(alive(child)).toBe(true);

    // Drain: what was queued comes out, then the count of lines dropped meanwhile.
    let text = '';
    const buf = Buffer.alloc(1 << 16);
    const deadline = Date.now() + 10_000;
    while (!text.includes('"log lines lost"') && Date.now() < deadline) {
      await ctrOk(address, ['version']);
      for (;;) {
        let n = 0;
        try {
          n = readSync(reader, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw err;
        }
        if (n === 0) break;
        text += buf.subarray(0, n).toString('utf8');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(text).toMatch(/"msg":"log lines lost","lost":\d+/);
    expect(await stopChild(child)).toBe(0);
  }, 60_000);
});

describe('berthd on a full disk', () => {
  it('exits non-zero naming the cause and the path when LevelDB cannot open, and logs the LevelDB error', async () => {
    const t = tempDir('berth-faults-full-');
    const disk = mountTmpfs(join(t.path, 'disk'), 1024);
    fill(disk);
    const root = join(disk, 'root');
    const r = spawnSync(
      process.execPath,
      [BERTHD_BIN, '--root', root, '--state', join(t.path, 'state'), '--address', join(t.path, 'berthd.sock')],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status).toBe(1);
    // The last line is the plain message; the JSON log before it carries LevelDB's words.
    expect(r.stderr).toMatch(new RegExp(`berthd: open metadata database ${root}/meta: write ${root}/meta/\\S+: no space left on device`));
    expect(r.stderr).toMatch(/"msg":"metadata database failed to open".*IO error: .*No space left on device/);
  });

  it('starts where LevelDB can open: reads work, a content write fails naming its file (as containerd does)', async () => {
    const t = tempDir('berth-faults-nearfull-');
    const disk = mountTmpfs(join(t.path, 'disk'), 2048);
    const root = join(disk, 'root');
    const d = await startBerthd({ root, state: join(t.path, 'state'), logLevel: 'info' });
    undo.push(() => d.cleanup()); // also removes the harness's own temp dir (socket, log)
    await ctrOk(d.address, ['namespaces', 'create', 'kept']);
    await d.stop();
    fill(disk, 256);
    await d.restart();

    expect((await ctrOk(d.address, ['namespaces', 'ls', '-q'])).stdout.split('\n')).toContain('kept');
    const w = await ctr(d.address, ['-n', 'kept', 'content', 'ingest', 'big'], { input: Buffer.alloc(1 << 20, 7) });
    expect(w.code).not.toBe(0);
    // containerd 1.6: the service returns the Go *PathError as is: code Unknown.
    expect(w.stderr).toMatch(new RegExp(`write ${root}/content/ingest/[0-9a-f]{64}/data: no space left on device: unknown`));
    // Still serving after the failure.
    await ctrOk(d.address, ['version']);
    expect(d.running()).toBe(true);
    expect(await d.stop()).toBe(0);
  });
});

describe('berthd root lock', () => {
  it('starts over a lock file that names a live unrelated pid', async () => {
    const t = tempDir('berth-faults-lock-');
    const root = join(t.path, 'root');
    mkdirSync(root, { recursive: true });
    // Our own pid: alive, and not a berthd. Only a kernel lock may refuse a start.
    writeFileSync(join(root, 'berthd.lock'), `${process.pid}\n`);
    const d = await startBerthd({ root, state: join(t.path, 'state') });
    undo.push(() => d.cleanup());
    await ctrOk(d.address, ['version']);
    expect(readFileSync(join(root, 'berthd.lock'), 'utf8')).toBe(`${d.pid}\n`);
  });

  it('refuses a second berthd on the same root, naming the pid that holds the lock, even with the pid file gone', async () => {
    const t = tempDir('berth-faults-second-');
    const d = await startBerthd({ root: join(t.path, 'root'), state: join(t.path, 'state') });
    undo.push(() => d.cleanup());
    // Blank the informative pid: the holder still comes from the kernel's lock table.
    writeFileSync(join(d.root, 'berthd.lock'), '');
    const r = spawnSync(process.execPath, [BERTHD_BIN, '--root', d.root, '--state', join(t.path, 'state2'), '--address', `${d.address}.2`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`another berthd (pid ${d.pid}) is already running on root ${d.root} (it holds the lock ${d.root}/berthd.lock)`);
    await ctrOk(d.address, ['version']);
  });
});
