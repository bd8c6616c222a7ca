// A container process's stdio, as containerd's runc shim does it (pkg/process/io.go):
// the process gets pipes (or a pty), and the shim copies between them and what the
// client named — FIFOs (ctr, the Go client, dockerd), plain files, `file://` logs or a
// `binary://` logging program. The shim owning the pipes is what lets CloseIO close a
// process's stdin, lets clients come and go, and keeps the process from blocking or
// dying of SIGPIPE while nobody reads.
//
// Copying is allocation-free in the common case: every reader reads into one shared
// 64 KiB buffer (net.Socket `onread`) and the data is written out synchronously with a
// non-blocking write(2) before the next read can reuse the buffer. Only when the reader
// of a FIFO falls behind is the unwritten rest copied and queued on the event loop; the
// source is paused until that write completes, so back-pressure reaches the container
// exactly as with containerd (its pipe fills and it blocks). FIFOs are opened read+write
// by the shim (like containerd), so a client that goes away never breaks the pipe.
import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandStdio } from './command';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipe, recvFd, setWinsize } from '../native';
import { PtyMasterWatch } from './pty-watch';
import { socketFd } from '../ttrpc/peercred';
import { trackChild } from './reaper';

export interface StdioConfig {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What a process's stdio offers once running. */
export interface ProcessIO {
  /** Resolves once everything the process wrote to stdout/stderr has been passed on. */
  readonly outputDone: Promise<void>;
  /** Bytes of output read from the process so far: whether its copies still move. */
  readonly outputMoved: number;
  /** CloseIO: drop the shim's hold on stdin, so the process sees EOF once the client closes. */
  closeStdin(): void;
  /** ResizePty (no-op without a terminal). */
  resize(width: number, height: number): void;
  /** Release everything (Delete). */
  close(): void;
}

type Warn = (msg: string) => void;

const SHARED = Buffer.allocUnsafe(64 * 1024);

const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_APPEND, O_CREAT } = fs.constants;

function closeQuiet(fd: number | undefined): void {
  if (fd === undefined || fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

// ---------------------------------------------------------------------------------
// sinks: where data read into SHARED goes

interface Sink {
  /** Consumes `chunk` (a view of SHARED). false: the rest was queued; `resume` runs once
   * it is written, and until then the caller must not read into SHARED for this sink. */
  write(chunk: Buffer, resume: () => void): boolean;
  /** Flush what is queued, then close. */
  end(): Promise<void>;
  /** Close now. */
  destroy(): void;
}

/** A non-blocking fd (FIFO or pipe write end, pty master) that a libuv stream also owns. */
class StreamSink implements Sink {
  private pending = 0;
  private broken = false;
  private ending: (() => void) | undefined;
  private closed = false;

  constructor(private readonly fd: number, private readonly stream: net.Socket, private readonly onClose: () => void, private readonly warn: Warn) {
    stream.on('error', (err) => {
      this.broken = true;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPIPE' && code !== 'EIO') warn(`stdio write: ${err.message}`);
    });
  }

  write(chunk: Buffer, resume: () => void): boolean {
    if (this.broken || this.closed) return true; // nobody to deliver to: discard
    let n = 0;
    if (this.pending === 0) {
      try {
        n = fs.writeSync(this.fd, chunk);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') {
          this.broken = true;
          if (code !== 'EPIPE') this.warn(`stdio write: ${(err as Error).message}`);
          return true;
        }
      }
      if (n === chunk.length) return true;
    }
    this.pending++;
    this.stream.write(Buffer.from(chunk.subarray(n)), (err) => {
      this.pending--;
      if (err) this.broken = true;
      if (this.pending === 0 && this.ending) this.ending();
      resume();
    });
    return false;
  }

  end(): Promise<void> {
    if (this.pending === 0 || this.broken) {
      this.destroy();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.ending = () => {
        this.destroy();
        resolve();
      };
    });
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy(); // closes fd
    this.onClose();
  }
}

/** A regular file: blocking appends. Shared by stdout and stderr when both name it. */
class FileSink implements Sink {
  private refs = 1;
  private closed = false;
  constructor(private readonly fd: number, private readonly warn: Warn) {}
  ref(): this {
    this.refs++;
    return this;
  }
  write(chunk: Buffer): boolean {
    if (this.closed) return true;
    try {
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off);
    } catch (err) {
      this.warn(`stdio write: ${(err as Error).message}`);
    }
    return true;
  }
  end(): Promise<void> {
    if (--this.refs <= 0) this.destroy();
    return Promise.resolve();
  }
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    closeQuiet(this.fd);
  }
}

function isFifo(p: string): boolean {
  return fs.statSync(p).isFIFO();
}

/** A writer for a FIFO: our own read end keeps it open, so writes never fail for lack of a reader. */
function fifoSink(p: string, warn: Warn): Sink {
  const rfd = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  let wfd: number;
  try {
    wfd = fs.openSync(p, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    closeQuiet(rfd);
    throw err;
  }
  const stream = new net.Socket({ fd: wfd, readable: false, writable: true });
  return new StreamSink(wfd, stream, () => closeQuiet(rfd), warn);
}

/** Sinks for stdout and stderr (containerd's copyPipes rules: FIFO, or an existing file,
 * one shared descriptor when both are the same file). */
function outputSinks(stdout: string, stderr: string, warn: Warn): { out?: Sink; err?: Sink } {
  const made: Sink[] = [];
  try {
    let file: FileSink | undefined;
    const sinkFor = (p: string): Sink | undefined => {
      if (!p) return undefined;
      let s: Sink;
      if (isFifo(p)) s = fifoSink(p, warn);
      else if (file && stdout === stderr) s = file.ref();
      else {
        file = new FileSink(fs.openSync(p, O_WRONLY | O_APPEND), warn);
        s = file;
      }
      made.push(s);
      return s;
    };
    return { out: sinkFor(stdout), err: sinkFor(stderr) };
  } catch (err) {
    for (const s of made) s.destroy();
    throw err;
  }
}

// ---------------------------------------------------------------------------------
// copying

/** A stream that reads into the shared buffer and hands each chunk to its copy's sink. */
interface Reader {
  stream: net.Socket;
  /** Set by copy(); returns false to pause reading (see Sink.write). */
  sink?: (chunk: Buffer) => boolean;
}

function onread(r: { sink?: (chunk: Buffer) => boolean }): { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } {
  return { buffer: SHARED, callback: (n, buf) => (r.sink ? r.sink(buf.subarray(0, n)) : true) };
}

function pipeReader(fd: number): Reader {
  const r: Reader = { stream: undefined as unknown as net.Socket };
  r.stream = new net.Socket({ fd, readable: true, writable: false, onread: onread(r) } as net.SocketConstructorOpts);
  return r;
}

/** Copies a reader into `sink` until EOF (or an error, e.g. EIO from a pty master once the
 * last slave closed); then flushes and closes the sink. */
function copy(r: Reader, sink: Sink, moved: (n: number) => void = () => undefined): Promise<void> {
  return new Promise((resolve) => {
    let finished = false;
    const src = r.stream;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      r.sink = undefined;
      src.destroy();
      void sink.end().then(resolve);
    };
    r.sink = (chunk) => {
      moved(chunk.length);
      return sink.write(chunk, () => src.resume());
    };
    src.once('end', finish);
    src.once('close', finish);
    src.on('error', finish);
    src.resume();
  });
}

/** Opens the stdin FIFO for reading and holds a write end of it (dropped by CloseIO). */
function openStdin(p: string): { reader: Reader; hold: number } {
  if (!isFifo(p)) {
    // a regular file (rare): read it once; there is no hold to drop
    const r: Reader = { stream: undefined as unknown as net.Socket };
    r.stream = fs.createReadStream(p) as unknown as net.Socket;
    r.stream.on('data', (b: Buffer) => {
      if (r.sink && !r.sink(b)) r.stream.pause();
    });
    return { reader: r, hold: -1 };
  }
  const rfd = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  let hold: number;
  try {
    hold = fs.openSync(p, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    closeQuiet(rfd);
    throw err;
  }
  return { reader: pipeReader(rfd), hold };
}

// ---------------------------------------------------------------------------------
// pipes (no terminal)

function parseUri(p: string): { scheme: string; path: string; url?: URL } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(p);
  if (!m) return { scheme: 'fifo', path: p };
  const url = new URL(p);
  return { scheme: m[1]!.toLowerCase(), path: decodeURIComponent(url.pathname), url };
}

/** Stdio of a process without a terminal: pipes for the runtime, copies to the client's paths. */
export class PipeIO implements ProcessIO {
  /** stdio for the runtime process (`runc create`/`exec`), container ends of the pipes. */
  readonly runcStdio: readonly [CommandStdio, CommandStdio, CommandStdio];
  private readonly containerFds: number[] = [];
  private readonly shimFds: { stdin?: number; stdout?: number; stderr?: number } = {};
  private stdinHold = -1;
  private readonly streams: Reader[] = [];
  private sinks: Sink[] = [];
  private logger: ChildProcess | undefined;
  private done: Promise<void> = Promise.resolve();
  private closed = false;
  /** Copies set up by prepare(), started by start(). */
  private prepared: Array<{ reader: Reader; sink: Sink; output: boolean }> | undefined;
  private started = false;
  private moved = 0;

  private constructor(private readonly cfg: StdioConfig, private readonly warn: Warn, readonly binary?: { url: URL; path: string }) {
    this.runcStdio = ['ignore', 'ignore', 'ignore'];
  }

  get outputDone(): Promise<void> {
    return this.done;
  }

  get outputMoved(): number {
    return this.moved;
  }

  /** Makes the pipes (and starts a binary:// logger). Paths are checked in start(). */
  static async create(cfg: StdioConfig, o: { uid?: number; gid?: number; id: string; namespace: string; warn: Warn }): Promise<PipeIO> {
    const uri = cfg.stdout ? parseUri(cfg.stdout) : { scheme: 'fifo', path: '' };
    let effective = cfg;
    if (uri.scheme === 'file') {
      // containerd: stdout and stderr both go to the file, created if needed
      fs.mkdirSync(path.dirname(uri.path), { recursive: true, mode: 0o755 });
      fs.closeSync(fs.openSync(uri.path, O_WRONLY | O_APPEND | O_CREAT, 0o644));
      effective = { ...cfg, stdout: uri.path, stderr: uri.path };
    } else if (uri.scheme !== 'fifo' && uri.scheme !== 'binary') {
      throw new Error(`unknown STDIO scheme ${uri.scheme}`);
    }
    const io = new PipeIO(effective, o.warn, uri.scheme === 'binary' ? { url: uri.url!, path: uri.path } : undefined);
    try {
      if (io.binary) await io.startLogger(o.id, o.namespace);
      else io.makePipes(o.uid ?? 0, o.gid ?? 0);
    } catch (err) {
      io.close();
      throw err;
    }
    return io;
  }

  private makePipes(uid: number, gid: number): void {
    const stdio: [CommandStdio, CommandStdio, CommandStdio] = ['ignore', 'ignore', 'ignore'];
    const names = ['stdin', 'stdout', 'stderr'] as const;
    names.forEach((name, i) => {
      if (!this.cfg[name]) return;
      const [r, w] = pipe();
      const theirs = i === 0 ? r : w;
      const ours = i === 0 ? w : r;
      this.containerFds.push(theirs);
      this.shimFds[name] = ours;
      if (uid !== 0 || gid !== 0) fs.fchownSync(theirs, uid, gid);
      stdio[i] = theirs;
    });
    (this as { runcStdio: PipeIO['runcStdio'] }).runcStdio = stdio;
  }

  /** binary:// — containerd's NewBinaryIO: the program gets the stdout and stderr pipes as
   * fds 3 and 4 and signals readiness by writing to (or closing) fd 5. */
  private async startLogger(id: string, namespace: string): Promise<void> {
    const b = this.binary!;
    const args: string[] = [];
    for (const [k, v] of b.url.searchParams) {
      args.push(k);
      if (v !== '') args.push(v);
    }
    const [outR, outW] = pipe();
    const [errR, errW] = pipe();
    const [readyR, readyW] = pipe();
    this.containerFds.push(outW, errW);
    try {
      this.logger = spawn(b.path, args, {
        stdio: ['ignore', 'ignore', 'ignore', outR, errR, readyW],
        env: { ...process.env, CONTAINER_ID: id, CONTAINER_NAMESPACE: namespace },
      });
      trackChild(this.logger);
      this.logger.on('error', (err) => this.warn(`binary logger ${b.path}: ${err.message}`));
    } finally {
      closeQuiet(outR);
      closeQuiet(errR);
      closeQuiet(readyW);
    }
    await new Promise<void>((resolve) => {
      const r = new net.Socket({ fd: readyR, readable: true, writable: false });
      const done = (): void => {
        r.destroy();
        resolve();
      };
      r.once('data', done);
      r.once('end', done);
      r.once('error', done);
      r.once('close', done);
    });
    (this as { runcStdio: PipeIO['runcStdio'] }).runcStdio = ['ignore', outW, errW];
  }

  /** After the runtime started the process: close the shim's copies of its pipe ends. */
  closeAfterStart(): void {
    for (const fd of this.containerFds.splice(0)) closeQuiet(fd);
  }

  /**
   * Opens the client's paths and sets up the copies without moving a byte (start() does).
   * Create calls this while the runtime runs `create`: the set-up then costs nothing on
   * Create's answer, and what the runtime itself writes to the pipes (its error message
   * when create fails) is still not passed on before it succeeded, as in containerd.
   */
  prepare(): void {
    if (this.binary || this.prepared) return; // a binary:// logger reads the pipes itself
    const prepared: Array<{ reader: Reader; sink: Sink; output: boolean }> = [];
    this.prepared = prepared;
    const { out, err } = outputSinks(this.shimFds.stdout !== undefined ? this.cfg.stdout : '', this.shimFds.stderr !== undefined ? this.cfg.stderr : '', this.warn);
    if (out) this.sinks.push(out);
    if (err) this.sinks.push(err);
    const paused = (r: Reader): Reader => {
      r.stream.pause();
      this.streams.push(r);
      return r;
    };
    if (out && this.shimFds.stdout !== undefined) {
      const reader = paused(pipeReader(this.shimFds.stdout));
      delete this.shimFds.stdout;
      prepared.push({ reader, sink: out, output: true });
    }
    if (err && this.shimFds.stderr !== undefined) {
      const reader = paused(pipeReader(this.shimFds.stderr));
      delete this.shimFds.stderr;
      prepared.push({ reader, sink: err, output: true });
    }
    if (this.shimFds.stdin !== undefined && this.cfg.stdin) {
      const wfd = this.shimFds.stdin;
      delete this.shimFds.stdin;
      const { reader, hold } = openStdin(this.cfg.stdin);
      this.stdinHold = hold;
      const w = new net.Socket({ fd: wfd, readable: false, writable: true }); // makes wfd non-blocking
      const sink = new StreamSink(wfd, w, () => undefined, this.warn);
      this.sinks.push(sink);
      prepared.push({ reader: paused(reader), sink, output: false });
    }
  }

  /** Opens the client's paths (unless prepare() did) and starts copying (containerd:
   * openStdin + Copy). */
  start(): void {
    if (this.binary || this.started) return;
    this.started = true;
    this.prepare();
    const copies: Promise<void>[] = [];
    for (const c of this.prepared ?? []) {
      const done = copy(c.reader, c.sink, c.output ? (n) => (this.moved += n) : undefined);
      if (c.output) copies.push(done);
    }
    this.done = Promise.all(copies).then(() => undefined);
  }

  closeStdin(): void {
    closeQuiet(this.stdinHold);
    this.stdinHold = -1;
  }

  resize(): void {
    // no terminal
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeAfterStart();
    this.closeStdin();
    for (const fd of Object.values(this.shimFds)) closeQuiet(fd);
    for (const r of this.streams) r.stream.destroy();
    for (const s of this.sinks) s.destroy();
    const logger = this.logger;
    if (logger && logger.exitCode === null && logger.signalCode === null) {
      // containerd: SIGTERM, then SIGKILL after 12 s
      logger.kill('SIGTERM');
      const t = setTimeout(() => logger.kill('SIGKILL'), 12_000);
      t.unref();
      logger.once('exit', () => clearTimeout(t));
    }
  }
}

// ---------------------------------------------------------------------------------
// terminal

/** runc's --console-socket: a unix socket in a private temp dir that receives the pty master. */
export class ConsoleSocket {
  private conn: net.Socket | undefined;
  private connWaiters: ((s: net.Socket) => void)[] = [];
  private constructor(readonly path: string, private readonly dir: string, private readonly server: net.Server) {
    server.on('connection', (s) => {
      if (this.conn) {
        s.destroy();
        return;
      }
      this.conn = s;
      for (const w of this.connWaiters.splice(0)) w(s);
    });
  }

  static async create(): Promise<ConsoleSocket> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pty'));
    const p = path.join(dir, 'pty.sock');
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new ConsoleSocket(p, dir, server);
  }

  /** The master the runtime sent. Call after the runtime command returned successfully. */
  async receiveMaster(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const conn =
      this.conn ??
      (await new Promise<net.Socket>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('failed to retrieve console master: timed out waiting for the runtime')), timeoutMs);
        this.connWaiters.push((s) => {
          clearTimeout(t);
          resolve(s);
        });
      }));
    const fd = socketFd(conn);
    if (fd === undefined) throw new Error('failed to retrieve console master: no descriptor for the connection');
    for (;;) {
      try {
        const got = recvFd(fd);
        if (!got) throw new Error('failed to retrieve console master: connection closed without a descriptor');
        return got.fd;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }

  close(): void {
    this.conn?.destroy();
    this.server.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The pty master's output, read with our own readiness watch rather than a libuv tty
 * stream. libuv takes a short read seen together with POLLHUP for end of file, and a pty
 * master reports POLLHUP as soon as the last slave closed, while the kernel may still
 * hold output for it (a read returns at most what the line discipline has moved into its
 * 4 KiB buffer, the rest follows from the tty's flip buffers): a process that printed a
 * lot just before it exited lost its last few KiB. Linux answers a read of the master
 * with EIO only once everything buffered has been read (it flushes the pending input
 * first), so this reads until EIO.
 *
 * Each read returns at most those 4 KiB, so reads are gathered into the shared buffer
 * until it is full or the master has nothing more right now, and the client's FIFO gets
 * one write per gathering rather than one per read.
 */
class PtyOutput {
  private ended = false;
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly readable = (failed: boolean): void => {
    this.onReadable();
    if (failed) this.end();
  };
  /** Bytes read from the master so far. */
  moved = 0;

  constructor(private readonly fd: number, private readonly master: PtyMasterWatch, private readonly sink: Sink | undefined) {
    this.done = new Promise((r) => (this.resolveDone = r));
    this.watch();
  }

  private watch(): void {
    if (this.ended) return;
    try {
      this.master.whenReadable(this.readable);
    } catch {
      this.end(); // the master is gone (closed by close())
    }
  }

  /** Reads what is there (level-triggered: called again while more is); at most 16
   * gatherings (1 MiB) per call, so the other copies get their turn. */
  private onReadable(): void {
    for (let round = 0; round < 16 && !this.ended; round++) {
      let filled = 0;
      let over = false;
      while (filled < SHARED.length) {
        let n: number;
        try {
          n = fs.readSync(this.fd, SHARED, filled, SHARED.length - filled, null);
        } catch (err) {
          // EAGAIN: nothing more for now; EIO: the last slave closed and nothing is left
          over = (err as NodeJS.ErrnoException).code !== 'EAGAIN';
          break;
        }
        if (n === 0) {
          over = true;
          break;
        }
        filled += n;
      }
      if (filled > 0) {
        this.moved += filled;
        if (this.sink && !this.sink.write(SHARED.subarray(0, filled), () => this.watch())) {
          // the client's FIFO is full: read again once the rest is written
          if (over) this.end();
          else this.master.whenReadable(undefined);
          return;
        }
      }
      if (over) {
        this.end();
        return;
      }
      if (filled < SHARED.length) return; // drained: wait for the master to be readable
    }
  }

  /** The output is over (EIO) or the console is being closed. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.master.whenReadable(undefined);
    } catch {
      // the master is gone: nothing to stop
    }
    if (this.sink) void this.sink.end().then(this.resolveDone);
    else this.resolveDone();
  }
}

/** Writes the client's stdin to the pty master (non-blocking: libuv's poll set it so).
 * What a full terminal input queue (the process does not read yet) leaves unwritten is
 * held, the stdin copy paused, until the master reports it can take more: one chunk at
 * most is held, so a process that never reads its terminal pushes back on the client. */
class PtyInputSink implements Sink {
  private queued: Buffer | undefined;
  private resume: (() => void) | undefined;
  private closed = false;
  private readonly writable = (failed: boolean): void => (failed ? this.destroy() : this.onWritable());

  constructor(private readonly fd: number, private readonly master: PtyMasterWatch, private readonly warn: Warn) {}

  write(chunk: Buffer, resume: () => void): boolean {
    if (this.closed) return true;
    const rest = this.writeNow(chunk);
    if (!rest) return true;
    this.queued = Buffer.from(rest);
    this.resume = resume;
    try {
      this.master.whenWritable(this.writable);
    } catch {
      this.destroy(); // the master is gone: nothing will take the rest
      return true;
    }
    return false;
  }

  /** Writes what it can; returns the unwritten rest (undefined: all written or discarded). */
  private writeNow(chunk: Buffer): Buffer | undefined {
    let off = 0;
    while (off < chunk.length) {
      try {
        off += fs.writeSync(this.fd, chunk, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') return chunk.subarray(off);
        // EIO: the process and its terminal are gone; EBADF: closed
        if (code !== 'EIO' && code !== 'EBADF') this.warn(`stdio write: ${(err as Error).message}`);
        this.closed = true;
        return undefined;
      }
    }
    return undefined;
  }

  private onWritable(): void {
    const rest = this.closed || !this.queued ? undefined : this.writeNow(this.queued);
    if (rest) {
      this.queued = rest; // still full: wait for the next writable
      return;
    }
    const resume = this.resume;
    this.queued = undefined;
    this.resume = undefined;
    try {
      this.master.whenWritable(undefined);
    } catch {
      // the master is gone
    }
    if (!this.closed) resume?.();
  }

  end(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    if (this.closed && !this.queued) return;
    this.closed = true;
    this.queued = undefined;
    this.resume = undefined;
    try {
      this.master.whenWritable(undefined);
    } catch {
      // the master is gone
    }
  }
}

/** Stdio through a pty: master ↔ the client's stdin/stdout paths (stderr is the terminal too). */
export class ConsoleIO implements ProcessIO {
  private readonly master: PtyMasterWatch;
  private readonly output: PtyOutput;
  private stdinHold = -1;
  private readonly others: Reader[] = [];
  private readonly sinks: Sink[] = [];
  readonly outputDone: Promise<void>;
  private closed = false;

  get outputMoved(): number {
    return this.output.moved;
  }

  constructor(private readonly fd: number, cfg: StdioConfig, warn: Warn) {
    let out: Sink | undefined;
    try {
      out = outputSinks(cfg.stdout, '', warn).out;
    } catch (err) {
      closeQuiet(fd);
      throw err;
    }
    if (out) this.sinks.push(out);
    this.master = new PtyMasterWatch(fd);
    // Without a stdout path the output is read and dropped (the process must not block).
    this.output = new PtyOutput(fd, this.master, out);
    this.outputDone = this.output.done;
    if (cfg.stdin) {
      let opened: { reader: Reader; hold: number };
      try {
        opened = openStdin(cfg.stdin);
      } catch (err) {
        this.close();
        throw err;
      }
      this.stdinHold = opened.hold;
      this.others.push(opened.reader);
      const sink = new PtyInputSink(fd, this.master, warn);
      this.sinks.push(sink);
      // containerd shuts the console down when stdin ends; here the output is still read
      // to its end first (closing the master would drop what the process has written).
      void copy(opened.reader, sink);
    }
  }

  closeStdin(): void {
    closeQuiet(this.stdinHold);
    this.stdinHold = -1;
  }

  resize(width: number, height: number): void {
    if (this.closed) return; // the process is gone; so is its terminal
    setWinsize(this.fd, height, width);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeStdin();
    for (const r of this.others) r.stream.destroy();
    this.output.end();
    for (const s of this.sinks) s.destroy();
    this.master.close(); // before the fd: a poll handle must not outlive its descriptor
    closeQuiet(this.fd);
  }
}

export const NULL_IO: ProcessIO = {
  outputDone: Promise.resolve(),
  outputMoved: 0,
  closeStdin: () => undefined,
  resize: () => undefined,
  close: () => undefined,
};

