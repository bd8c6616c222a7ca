// Diff worker thread: runs LayerApplier (blocking syscalls) and zstd decompression
// (pure JS, ~3 ms of CPU per MB of output) off the daemon's event loop. Driven by
// apply.ts and decompress.ts through protocol.ts messages.

import * as fs from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { LayerApplier, type ApplyLayerOptions } from './applier';
import type { FromWorker, ToWorker } from './protocol';
import { MAX_WINDOW, zstdWindowSize } from './zstdframe';
import { toWireError } from './workerpool';

const port = parentPort;
if (!port) throw new Error('src/diff/worker.ts must run as a worker thread');

const send = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);

// ---------------------------------------------------------------- apply

let applyId = -1;
let applier: LayerApplier | null = null;
let applyFailed = false;

/** Positional reads of a layer blob: large, as the content store's own streams read. */
const READ_CHUNK = 1 << 20;

/** `size` bytes of fd from its start (fewer if the file is shorter: the tar or gzip
 * reader then reports the truncation, as with the stream the main thread used to read). */
async function* readFd(fd: number, size: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - pos));
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, buf.length, pos, (err, got) => (err ? reject(err) : resolve(got))));
    if (n === 0) return;
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
}

/**
 * An apply whose input the worker reads and gunzips itself (applyLayerFromFd): the
 * daemon's event loop then carries none of the layer's bytes, and keeps receiving the
 * next layers meanwhile (a pull that unpacks while it downloads).
 */
async function applyFromFd(m: Extract<ToWorker, { t: 'applyFd' }>, a: LayerApplier): Promise<void> {
  const current = (): boolean => m.id === applyId && !applyFailed && applier === a;
  const src = Readable.from(readFd(m.fd, m.size), { objectMode: false });
  let input: Readable = src;
  if (m.gzip) {
    // As the main thread's decompressStream: node:zlib, 64 KiB output chunks.
    const gunzip = zlib.createGunzip({ chunkSize: 64 * 1024 });
    pipeline(src, gunzip, () => undefined);
    input = gunzip;
  }
  try {
    for await (const chunk of input) {
      if (!current()) {
        input.destroy();
        return;
      }
      a.write(chunk as Buffer);
    }
    if (!current()) return;
    const result = a.finish();
    applier = null;
    send({ t: 'done', id: m.id, result });
  } catch (err) {
    if (!current()) return;
    applyFailed = true;
    a.abort();
    applier = null;
    send({ t: 'error', id: m.id, error: toWireError(err) });
  }
}

/** Starts apply job `m.id` (ending any other): its applier, or null once the failure to
 * make one has been reported. */
function beginApply(m: { id: number; root: string; opts: ApplyLayerOptions }): LayerApplier | null {
  applier?.abort();
  applyId = m.id;
  applyFailed = false;
  try {
    applier = new LayerApplier(m.root, m.opts);
  } catch (err) {
    applyFailed = true;
    applier = null;
    send({ t: 'error', id: m.id, error: toWireError(err) });
  }
  return applier;
}

function onApply(m: ToWorker): void {
  switch (m.t) {
    case 'applyFd': {
      const a = beginApply(m);
      if (a) void applyFromFd(m, a);
      return;
    }
    case 'apply':
      beginApply(m);
      return;
    case 'chunk':
      if (m.id !== applyId || applyFailed || !applier) return;
      try {
        applier.write(Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength));
        send({ t: 'ack', id: m.id, bytes: m.buf.byteLength });
      } catch (err) {
        applyFailed = true;
        applier.abort();
        applier = null;
        send({ t: 'error', id: m.id, error: toWireError(err) });
      }
      return;
    case 'end':
      if (m.id !== applyId || applyFailed || !applier) return;
      try {
        const result = applier.finish();
        send({ t: 'done', id: m.id, result });
      } catch (err) {
        applier.abort();
        send({ t: 'error', id: m.id, error: toWireError(err) });
      }
      applier = null;
      return;
    case 'abort':
      if (m.id !== applyId) return;
      applier?.abort();
      applier = null;
      applyFailed = true;
      return;
  }
}

// ---------------------------------------------------------------- zstd

/** Input is fed to fzstd in slices this small so that a highly compressible stream
 * cannot produce more than ~SLICE/4 × 128 KiB of output before we look at the
 * consumer's backlog (a zstd block is ≥ 4 bytes and ≤ 128 KiB). */
const SLICE = 1024;
const OUT_BATCH = 256 * 1024;
const OUT_HIGH = 8 * 1024 * 1024;

interface ZJob {
  id: number;
  dec: Decompress;
  input: Buffer[];
  inputOff: number;
  ended: boolean;
  out: Uint8Array[];
  outLen: number;
  unacked: number;
  failed: boolean;
  done: boolean;
  checked: boolean;
}

let zjob: ZJob | null = null;


function zflush(j: ZJob): void {
  if (j.outLen === 0) return;
  const buf = new Uint8Array(new ArrayBuffer(j.outLen));
  let off = 0;
  for (const c of j.out) {
    buf.set(c, off);
    off += c.length;
  }
  j.unacked += j.outLen;
  j.out = [];
  j.outLen = 0;
  send({ t: 'zdata', id: j.id, buf }, [buf.buffer as ArrayBuffer]);
}

function zfail(j: ZJob, err: unknown): void {
  j.failed = true;
  j.input = [];
  send({ t: 'error', id: j.id, error: toWireError(err) });
}

/** Decompresses queued input until it runs out or the consumer falls behind. */
function zpump(j: ZJob): void {
  if (j.failed || j.done) return;
  try {
    while (j.input.length > 0 && j.unacked < OUT_HIGH) {
      const head = j.input[0]!;
      const end = Math.min(head.length, j.inputOff + SLICE);
      j.dec.push(head.subarray(j.inputOff, end));
      j.inputOff = end;
      if (end === head.length) {
        j.input.shift();
        j.inputOff = 0;
        send({ t: 'ack', id: j.id, bytes: head.length });
      }
      if (j.outLen >= OUT_BATCH) zflush(j);
    }
    if (j.input.length === 0 && j.ended) {
      j.dec.push(new Uint8Array(0), true);
      zflush(j);
      j.done = true;
      send({ t: 'zend', id: j.id });
      return;
    }
    zflush(j);
  } catch (err) {
    zfail(j, err);
  }
}

function onZstd(m: ToWorker): void {
  switch (m.t) {
    case 'zstd': {
      const j: ZJob = {
        id: m.id,
        dec: new Decompress(),
        input: [],
        inputOff: 0,
        ended: false,
        out: [],
        outLen: 0,
        unacked: 0,
        failed: false,
        done: false,
        checked: false,
      };
      // fzstd may hand out views of its window: copy what we keep.
      j.dec.ondata = (data: Uint8Array) => {
        if (data.length === 0) return;
        j.out.push(data.slice());
        j.outLen += data.length;
      };
      zjob = j;
      return;
    }
    case 'chunk': {
      if (!zjob || zjob.id !== m.id || zjob.failed) return;
      const buf = Buffer.from(m.buf.buffer, m.buf.byteOffset, m.buf.byteLength);
      if (!zjob.checked) {
        zjob.checked = true;
        const w = zstdWindowSize(buf);
        if (w !== null && w > MAX_WINDOW) {
          zfail(zjob, new Error(`zstd frame window of ${w} bytes exceeds the ${MAX_WINDOW} byte limit`));
          return;
        }
      }
      zjob.input.push(buf);
      zpump(zjob);
      return;
    }
    case 'end':
      if (!zjob || zjob.id !== m.id) return;
      zjob.ended = true;
      zpump(zjob);
      return;
    case 'zack':
      if (!zjob || zjob.id !== m.id) return;
      zjob.unacked -= m.bytes;
      zpump(zjob);
      return;
    case 'abort':
      if (zjob && zjob.id === m.id) zjob = null;
      return;
  }
}

// ---------------------------------------------------------------- dispatch

let mode: 'apply' | 'zstd' = 'apply';

port.on('message', (m: ToWorker) => {
  if (m.t === 'apply' || m.t === 'applyFd') mode = 'apply';
  else if (m.t === 'zstd') mode = 'zstd';
  if (mode === 'apply') onApply(m);
  else onZstd(m);
});
