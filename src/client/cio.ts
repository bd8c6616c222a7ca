// A task's stdio through FIFOs, as the Go client's cio package does it: the client makes
// <dir>/<id>-stdin, -stdout and -stderr, opens its ends BEFORE Tasks.Create (a shim opens
// the other ends during Create, and a Go shim's blocking open of a FIFO waits for a
// peer), then copies between the FIFOs and the caller's Node streams.
//
// How the ends are opened, and why:
// - stdout/stderr: O_RDONLY|O_NONBLOCK. The open returns at once; Linux reports no hang-up
//   on a FIFO until a writer has opened it after us, so the read side sees data once the
//   shim writes and end-of-file only when the shim's last writer closes.
// - stdin: O_RDWR|O_NONBLOCK. Opening write-only without a reader fails with ENXIO; with
//   our own read end held the open succeeds, and what is written waits in the pipe for the
//   shim. The shim sees end-of-file only through Tasks.CloseIO (closeStdin), as in Go.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { S_IFIFO } from '../native/constants';
import { mknod } from '../native/fs';

const { O_RDONLY, O_RDWR, O_NONBLOCK } = fs.constants;

/** The paths a task's stdio is created with (empty: that stream is not connected). */
export interface FifoSet {
  dir: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** Where a task's output goes: a stream, one made on the first output, or 'pipe'. */
export type OutputSink = Writable | (() => Writable) | 'pipe';

export interface TaskStdio {
  /** Copied into the task's stdin; when it ends, the task's stdin is closed (CloseIO).
   * 'pipe': a stdin FIFO is made and the caller writes to `io.stdin` (then closeStdin()). */
  stdin?: Readable | 'pipe';
  /** Receives the task's stdout (with a terminal: everything the terminal prints).
   * A function: called for the stream when the first output arrives, not before (a log
   * file opened only if there is something to log; berth's own process.stdout, which costs
   * its making, not made for a task that prints nothing).
   * 'pipe': the caller reads `io.stdout` (and must, or the process blocks once the FIFO
   * is full). Not given: read and discarded (with no stream given at all, the task gets
   * no FIFOs: containerd's runc shim takes all-empty paths as null IO, but fails on an
   * empty output path next to a set one). */
  stdout?: OutputSink;
  /** Receives the task's stderr (not used with a terminal); as stdout. */
  stderr?: OutputSink;
  /** Run the process on a pseudo-terminal (resize it with resize()). */
  terminal?: boolean;
  /** Where the FIFO directory is made (default /run/berth/fifo, else the temp dir). */
  fifoRoot?: string;
}

function defaultFifoRoot(): string {
  // Go's cio uses /run/containerd/fifo: a tmpfs, so FIFOs never touch a disk. Use berth's
  // own directory under /run when we may, the temp dir otherwise (a non-root user).
  const run = '/run/berth/fifo';
  try {
    fs.mkdirSync(run, { recursive: true, mode: 0o700 });
    return run;
  } catch {
    return os.tmpdir();
  }
}

/** Makes the FIFOs for process `id` in a new private directory. */
export function makeFifoSet(id: string, want: { stdin: boolean; stdout: boolean; stderr: boolean; terminal: boolean }, root?: string): FifoSet {
  // No stream at all (a detached task): no directory, which nobody would remove.
  if (!want.stdin && !want.stdout && !want.stderr) return { dir: '', stdin: '', stdout: '', stderr: '', terminal: want.terminal };
  const dir = fs.mkdtempSync(path.join(root ?? defaultFifoRoot(), `${id.slice(0, 32)}-`));
  fs.chmodSync(dir, 0o700);
  const make = (on: boolean, name: string): string => {
    if (!on) return '';
    const p = path.join(dir, `${id}-${name}`);
    mknod(p, S_IFIFO | 0o700);
    return p;
  };
  return {
    dir,
    stdin: make(want.stdin, 'stdin'),
    stdout: make(want.stdout, 'stdout'),
    stderr: make(want.stderr && !want.terminal, 'stderr'),
    terminal: want.terminal,
  };
}

function unlinkIfThere(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Removes a FIFO set this client made: its FIFOs, then its directory (by name: node's
 * rmSync loads its rimraf, ~1–2 ms of every run). */
function removeFifoSet(fifos: FifoSet): void {
  for (const p of [fifos.stdin, fifos.stdout, fifos.stderr]) {
    // unlink, not rmSync: node's rmSync goes through rimraf even for one file.
    if (p) unlinkIfThere(p);
  }
  try {
    fs.rmdirSync(fifos.dir);
  } catch {
    // Something besides the FIFOs is in it (rare): removed recursively, as before.
    fs.rmSync(fifos.dir, { recursive: true, force: true });
  }
}

/** Pipes r into the stream made by sink when r's first chunk arrives. That chunk is
 * written first; pipe() then pauses r while the stream wants a drain. */
function pipeOnFirstData(r: Readable, sink: () => Writable): void {
  r.once('data', (first: Buffer) => {
    const w = sink();
    w.write(first);
    r.pipe(w, { end: false });
  });
}

/** The open client ends of a FIFO set, copying to and from the caller's streams. */
export class TaskIO {
  /** Our ends of the FIFOs, opened by the constructor (-1: not connected); node streams are
   * made over them by wrap(). */
  private readonly fds: { stdin: number; stdout: number; stderr: number };
  private streams: { stdin: Writable | null; stdout: Readable | null; stderr: Readable | null } | null = null;
  private outputsDone: Promise<void> | null = null;
  private closed = false;

  private constructor(
    readonly fifos: FifoSet,
    private readonly ownsDir: boolean,
    private readonly stdio: TaskStdio,
  ) {
    // The ends are opened now, before Tasks.Create (see the top of this file); the streams
    // over them are made just after, on the loop's next turn, while the daemon creates the
    // task: node's net module (~3 ms to load) is then off a run's way to Tasks.Create.
    const opened: number[] = [];
    const open = (p: string, flags: number): number => {
      if (!p) return -1;
      const fd = fs.openSync(p, flags);
      opened.push(fd);
      return fd;
    };
    try {
      this.fds = { stdin: open(fifos.stdin, O_RDWR | O_NONBLOCK), stdout: open(fifos.stdout, O_RDONLY | O_NONBLOCK), stderr: open(fifos.stderr, O_RDONLY | O_NONBLOCK) };
    } catch (err) {
      for (const fd of opened) fs.closeSync(fd);
      throw err;
    }
    setImmediate(() => this.wrap());
  }

  /** Writes go to the task's stdin (null without stdin). */
  get stdin(): Writable | null {
    return this.wrap()?.stdin ?? null;
  }

  /** The task's output streams as read from the FIFOs (null if not connected). */
  get stdout(): Readable | null {
    return this.wrap()?.stdout ?? null;
  }

  get stderr(): Readable | null {
    return this.wrap()?.stderr ?? null;
  }

  /** The streams over the FIFO ends, made once, and the copies to the caller's sinks
   * started; null once closed. */
  private wrap(): { stdin: Writable | null; stdout: Readable | null; stderr: Readable | null } | null {
    if (this.streams || this.closed) return this.streams;
    const net = require('node:net') as typeof import('node:net');
    const { fds, stdio } = this;
    const reader = (fd: number): Readable | null => (fd >= 0 ? new net.Socket({ fd, readable: true, writable: false }) : null);
    const streams = {
      stdin: fds.stdin >= 0 ? new net.Socket({ fd: fds.stdin, readable: false, writable: true }) : null,
      stdout: reader(fds.stdout),
      stderr: reader(fds.stderr),
    };
    this.streams = streams;
    const ended = (r: Readable | null, sink: OutputSink | undefined): Promise<void> =>
      new Promise<void>((resolve) => {
        if (!r) return resolve();
        if (sink === undefined) r.resume();
        else if (typeof sink === 'function') pipeOnFirstData(r, sink);
        else if (sink !== 'pipe') r.pipe(sink, { end: false });
        r.once('end', resolve);
        r.once('close', resolve);
        r.once('error', () => resolve());
      });
    this.outputsDone = Promise.all([ended(streams.stdout, stdio.stdout), ended(streams.stderr, stdio.stderr)]).then(() => undefined);
    streams.stdin?.on('error', () => undefined);
    return streams;
  }

  /** FIFOs made for a new process, opened before the process is created. */
  static create(id: string, stdio: TaskStdio): TaskIO {
    const any = stdio.stdin !== undefined || stdio.stdout !== undefined || stdio.stderr !== undefined || stdio.terminal === true;
    const fifos = makeFifoSet(id, { stdin: stdio.stdin !== undefined, stdout: any, stderr: any, terminal: stdio.terminal === true }, stdio.fifoRoot);
    try {
      return new TaskIO(fifos, true, stdio);
    } catch (err) {
      if (fifos.dir) removeFifoSet(fifos);
      throw err;
    }
  }

  /** Re-opens the FIFOs of an existing process (cio.NewAttach): the directory stays its owner's. */
  static attach(fifos: Omit<FifoSet, 'dir'>, stdio: TaskStdio): TaskIO {
    const want = (p: string, on: unknown): string => (on !== undefined && p && fs.existsSync(p) ? p : '');
    const dir = path.dirname(fifos.stdout || fifos.stdin || fifos.stderr || '.');
    return new TaskIO(
      { dir, stdin: want(fifos.stdin, stdio.stdin), stdout: want(fifos.stdout, stdio.stdout), stderr: want(fifos.stderr, stdio.stderr), terminal: fifos.terminal },
      false,
      stdio,
    );
  }

  /** Starts copying the caller's stdin into the task; onEnd runs once it has all been written. */
  pipeStdin(source: Readable | 'pipe' | undefined, onEnd: () => void): void {
    if (!source || source === 'pipe') return;
    const sink = this.stdin;
    if (!sink) return;
    source.pipe(sink, { end: false });
    source.once('end', () => {
      if (sink.writableLength === 0) onEnd();
      else sink.once('drain', onEnd);
    });
  }

  /** Resolves when the task's output streams reached end-of-file. */
  wait(): Promise<void> {
    this.wrap();
    return this.outputsDone ?? Promise.resolve();
  }

  /** Closes every end still open and removes the FIFO directory (if this made it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.streams) for (const s of [this.streams.stdin, this.streams.stdout, this.streams.stderr]) s?.destroy();
    else for (const fd of [this.fds.stdin, this.fds.stdout, this.fds.stderr]) if (fd >= 0) fs.closeSync(fd);
    if (this.ownsDir && this.fifos.dir) removeFifoSet(this.fifos);
  }
}
