// applyLayer: extract an uncompressed layer tar into a directory with containerd's
// semantics (applier.ts), on a worker thread. The main thread only moves bytes: it
// reads the stream, batches chunks into ~256 KiB transferable buffers and keeps at
// most HIGH_WATER bytes in flight; the worker hashes, parses and makes the syscalls.

import type { Readable } from 'node:stream';
import { UnknownError } from '../errdefs/errors';
import { LayerApplier, type ApplyLayerOptions, type ApplyResult } from './applier';
import type { FromWorker, ToWorker } from './protocol';
import { acquire, discard, packChunks, release, type WireError } from './workerpool';

export type { ApplyLayerOptions, ApplyResult } from './applier';

const BATCH = 256 * 1024;
const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 2 * 1024 * 1024;

export interface ApplyLayerExtraOptions {
  /** Run on the calling thread (blocks it; for tests and measurements). */
  inThread?: boolean;
}

let nextJobId = 1;

export function fromWireError(e: WireError): UnknownError {
  const err = new UnknownError(e.message);
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}

/**
 * Applies the uncompressed layer tar `tar` onto `root`. Resolves with the size and
 * sha256 of the whole stream (read to EOF). On failure the stream is destroyed and
 * `root` is left as far as the apply got (callers discard the snapshot).
 */
export function applyLayer(
  root: string,
  tar: Readable,
  opts: ApplyLayerOptions & ApplyLayerExtraOptions,
): Promise<ApplyResult> {
  const { inThread, ...applyOpts } = opts;
  if (inThread) return applyInThread(root, tar, applyOpts);
  return new Promise<ApplyResult>((resolve, reject) => {
    const pw = acquire();
    const w = pw.worker;
    const id = nextJobId++;
    let batch: Buffer[] = [];
    let batchLen = 0;
    let inflight = 0;
    let settled = false;

    const post = (m: ToWorker, transfer?: ArrayBuffer[]): void => w.postMessage(m, transfer);

    const cleanup = (): void => {
      tar.off('data', onData);
      tar.off('end', onEnd);
      tar.off('error', onStreamError);
      w.off('message', onMessage);
      w.off('error', onWorkerError);
      w.off('exit', onExit);
    };
    const succeed = (r: ApplyResult): void => {
      if (settled) return;
      settled = true;
      cleanup();
      release(pw);
      resolve(r);
    };
    const fail = (err: Error, workerUsable: boolean): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (workerUsable) {
        post({ t: 'abort', id });
        release(pw);
      } else {
        discard(pw);
      }
      if (!tar.destroyed) tar.destroy();
      reject(err);
    };

    const flush = (): void => {
      if (batchLen === 0) return;
      const buf = packChunks(batch, batchLen);
      inflight += batchLen;
      batch = [];
      batchLen = 0;
      post({ t: 'chunk', id, buf }, [buf.buffer as ArrayBuffer]);
      if (inflight >= HIGH_WATER) tar.pause();
    };
    const onData = (chunk: Buffer | string): void => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      batch.push(b);
      batchLen += b.length;
      if (batchLen >= BATCH) flush();
    };
    const onEnd = (): void => {
      flush();
      post({ t: 'end', id });
    };
    const onStreamError = (err: Error): void => fail(err, true);
    const onMessage = (m: FromWorker): void => {
      if (m.id !== id) return;
      switch (m.t) {
        case 'ack':
          inflight -= m.bytes;
          if (inflight <= LOW_WATER && tar.isPaused() && !settled) tar.resume();
          return;
        case 'done':
          succeed(m.result);
          return;
        case 'error':
          fail(fromWireError(m.error), true);
          return;
      }
    };
    const onWorkerError = (err: Error): void => fail(err, false);
    const onExit = (code: number): void => fail(new UnknownError(`layer apply worker exited (code ${code})`), false);

    w.on('message', onMessage);
    w.on('error', onWorkerError);
    w.on('exit', onExit);
    post({ t: 'apply', id, root, opts: applyOpts });
    tar.on('data', onData);
    tar.on('end', onEnd);
    tar.on('error', onStreamError);
  });
}

/**
 * Applies the layer in `size` bytes of the open file `fd` (a committed blob: gzip or an
 * uncompressed tar) onto `root`, read and decompressed by the worker itself, so the
 * daemon's event loop moves none of its bytes. The caller keeps fd open until this settles.
 */
export function applyLayerFromFd(root: string, fd: number, size: number, gzip: boolean, opts: ApplyLayerOptions): Promise<ApplyResult> {
  return new Promise<ApplyResult>((resolve, reject) => {
    const pw = acquire();
    const w = pw.worker;
    const id = nextJobId++;
    let settled = false;
    const cleanup = (): void => {
      w.off('message', onMessage);
      w.off('error', onWorkerError);
      w.off('exit', onExit);
    };
    const onMessage = (m: FromWorker): void => {
      if (m.id !== id || settled) return;
      if (m.t === 'done') {
        settled = true;
        cleanup();
        release(pw);
        resolve(m.result);
      } else if (m.t === 'error') {
        settled = true;
        cleanup();
        release(pw);
        reject(fromWireError(m.error));
      }
    };
    const onWorkerError = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      discard(pw);
      reject(err);
    };
    const onExit = (code: number): void => onWorkerError(new UnknownError(`layer apply worker exited (code ${code})`));
    w.on('message', onMessage);
    w.on('error', onWorkerError);
    w.on('exit', onExit);
    w.postMessage({ t: 'applyFd', id, root, opts, fd, size, gzip } satisfies ToWorker);
  });
}

async function applyInThread(root: string, tar: Readable, opts: ApplyLayerOptions): Promise<ApplyResult> {
  const a = new LayerApplier(root, opts);
  try {
    for await (const chunk of tar) a.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return a.finish();
  } catch (err) {
    a.abort();
    if (!tar.destroyed) tar.destroy();
    throw err;
  }
}
