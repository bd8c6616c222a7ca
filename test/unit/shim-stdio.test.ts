// The shim's stdio (src/shim/stdio.ts) with an ordinary process standing in for runc: pipes
// to the process, copies to FIFOs / files / a binary:// logger, back-pressure from a slow
// FIFO reader, stdin held open until CloseIO.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeAvailable } from '../../src/native';
import { PipeIO, type StdioConfig } from '../../src/shim/stdio';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const warnings: string[] = [];
const warn = (m: string): void => {
  warnings.push(m);
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-stdio-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const p = path.join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Runs `sh -c script` with the IO's runtime stdio, as runc would; resolves with its exit code. */
async function run(io: PipeIO, script: string): Promise<{ exited: Promise<number> }> {
  const child = spawn('sh', ['-c', script], { stdio: io.runcStdio });
  io.closeAfterStart();
  io.start();
  const exited = new Promise<number>((r) => child.once('exit', (c) => r(c ?? -1)));
  return { exited };
}

/** Reads a FIFO opened O_RDWR|O_NONBLOCK with plain reads (so the test decides when). */
function drain(fd: number, into: Buffer[]): number {
  const b = Buffer.alloc(65536);
  let n = 0;
  for (;;) {
    let r: number;
    try {
      r = fs.readSync(fd, b, 0, b.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return n;
      throw err;
    }
    if (r === 0) return n;
    into.push(Buffer.from(b.subarray(0, r)));
    n += r;
  }
}

const cfg = (o: Partial<StdioConfig>): StdioConfig => ({ stdin: '', stdout: '', stderr: '', terminal: false, ...o });

describe.skipIf(!nativeAvailable())('PipeIO', () => {
  it('copies stdout and stderr to FIFOs; outputDone once both are passed on', async () => {
    const out = fifo('o1');
    const err = fifo('e1');
    const ofd = fs.openSync(out, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const efd = fs.openSync(err, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const io = await PipeIO.create(cfg({ stdout: out, stderr: err }), { id: 't', namespace: 'n', warn });
    const { exited } = await run(io, 'echo to-out; echo to-err >&2; exit 4');
    expect(await exited).toBe(4);
    await io.outputDone;
    const o: Buffer[] = [];
    const e: Buffer[] = [];
    drain(ofd, o);
    drain(efd, e);
    expect(Buffer.concat(o).toString()).toBe('to-out\n');
    expect(Buffer.concat(e).toString()).toBe('to-err\n');
    io.close();
    fs.closeSync(ofd);
    fs.closeSync(efd);
  });

  it('prepare() opens the paths but moves no byte until start(); close() instead drops what was written', async () => {
    const out = fifo('o-prep');
    const ofd = fs.openSync(out, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    // As while the runtime runs `create` (and writes its error there when it fails).
    const io = await PipeIO.create(cfg({ stdout: out }), { id: 't', namespace: 'n', warn });
    io.prepare();
    const containerEnd = io.runcStdio[1] as number;
    fs.writeSync(containerEnd, 'written before start\n');
    await sleep(50);
    const o: Buffer[] = [];
    expect(drain(ofd, o)).toBe(0);
    io.closeAfterStart();
    io.start();
    await io.outputDone;
    drain(ofd, o);
    expect(Buffer.concat(o).toString()).toBe('written before start\n');
    io.close();

    const failed = await PipeIO.create(cfg({ stdout: out }), { id: 't2', namespace: 'n', warn });
    failed.prepare();
    fs.writeSync(failed.runcStdio[1] as number, 'runtime error text\n');
    failed.close();
    await sleep(50);
    expect(drain(ofd, o)).toBe(0);
    fs.closeSync(ofd);
  });

  it('back-pressure: slow readers of two FIFOs get every byte of their own stream, in order', async () => {
    const streams = ['a', 'b'].map((name) => {
      const p = fifo(`bp-${name}`);
      return { name, path: p, fd: fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK), got: [] as Buffer[] };
    });
    const size = 3 * 1024 * 1024;
    const procs = await Promise.all(
      streams.map(async (s) => {
        const io = await PipeIO.create(cfg({ stdout: s.path }), { id: s.name, namespace: 'n', warn });
        const r = await run(io, `yes line-from-${s.name}-0123456789 | head -c ${size}`);
        return { io, ...r };
      }),
    );
    // nobody reads for a while: the FIFOs (64 KiB) fill, the shim queues, the writers block
    await sleep(300);
    let total = 0;
    const deadline = Date.now() + 20_000;
    while (total < 2 * size && Date.now() < deadline) {
      for (const s of streams) total += drain(s.fd, s.got);
      await sleep(5);
    }
    for (const p of procs) expect(await p.exited).toBe(0);
    for (const p of procs) await p.io.outputDone;
    for (const s of streams) {
      const data = Buffer.concat(s.got);
      expect(data.length).toBe(size);
      const line = `line-from-${s.name}-0123456789\n`;
      const expected = Buffer.from(line.repeat(Math.ceil(size / line.length))).subarray(0, size);
      expect(createHash('sha256').update(data).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
      fs.closeSync(s.fd);
    }
    for (const p of procs) p.io.close();
  });

  it('stdin: the process sees EOF only after the client closed and CloseIO dropped the shim\'s hold', async () => {
    const inp = fifo('i3');
    const out = fifo('o3');
    const ifd = fs.openSync(inp, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const ofd = fs.openSync(out, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const io = await PipeIO.create(cfg({ stdin: inp, stdout: out }), { id: 't', namespace: 'n', warn });
    const { exited } = await run(io, 'cat; echo eof');
    let code: number | undefined;
    void exited.then((c) => (code = c));
    fs.writeSync(ifd, 'hello stdin\n');
    fs.closeSync(ifd);
    await sleep(200);
    expect(code).toBeUndefined(); // still held by the shim
    io.closeStdin();
    expect(await exited).toBe(0);
    await io.outputDone;
    const o: Buffer[] = [];
    drain(ofd, o);
    expect(Buffer.concat(o).toString()).toBe('hello stdin\neof\n');
    io.close();
    fs.closeSync(ofd);
  });

  it('file:// sends stdout and stderr to one file (created); a missing FIFO path fails start()', async () => {
    const log = path.join(dir, 'logs', 'c.log');
    const io = await PipeIO.create(cfg({ stdout: `file://${log}`, stderr: `file://${log}` }), { id: 't', namespace: 'n', warn });
    const { exited } = await run(io, 'echo one; echo two >&2; echo three');
    expect(await exited).toBe(0);
    await io.outputDone;
    expect(fs.readFileSync(log, 'utf8').split('\n').sort()).toEqual(['', 'one', 'three', 'two']);
    io.close();
    const bad = await PipeIO.create(cfg({ stdout: path.join(dir, 'nope') }), { id: 't', namespace: 'n', warn });
    expect(() => bad.start()).toThrow(/ENOENT/);
    bad.close();
    await expect(PipeIO.create(cfg({ stdout: 'gopher://x' }), { id: 't', namespace: 'n', warn })).rejects.toThrow(/unknown STDIO scheme gopher/);
  });

  it('binary:// starts the logger with the pipes on fds 3 and 4 and waits for it to be ready', async () => {
    const logger = path.join(dir, 'logger.sh');
    const outFile = path.join(dir, 'logger.out');
    fs.writeFileSync(logger, `#!/bin/sh\n# args: -o FILE\necho "$CONTAINER_NAMESPACE/$CONTAINER_ID" > "$2.env"\nexec 5>&-\ncat <&3 > "$2" &\ncat <&4 >> "$2.err"\nwait\n`, { mode: 0o755 });
    const io = await PipeIO.create(cfg({ stdout: `binary://${logger}?-o=${encodeURIComponent(outFile)}`, stderr: 'ignored' }), { id: 'c9', namespace: 'ns9', warn });
    expect(fs.readFileSync(`${outFile}.env`, 'utf8')).toBe('ns9/c9\n');
    const { exited } = await run(io, 'echo logged; echo logged-err >&2');
    expect(await exited).toBe(0);
    const deadline = Date.now() + 5000;
    const has = (f: string, text: string): boolean => fs.existsSync(f) && fs.readFileSync(f, 'utf8') === text;
    while (Date.now() < deadline && !(has(outFile, 'logged\n') && has(`${outFile}.err`, 'logged-err\n'))) await sleep(20);
    expect(fs.readFileSync(outFile, 'utf8')).toBe('logged\n');
    expect(fs.readFileSync(`${outFile}.err`, 'utf8')).toBe('logged-err\n');
    io.close();
  });
});
