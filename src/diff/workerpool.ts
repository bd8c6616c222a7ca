// Worker threads for layer work (apply, zstd): blocking syscalls and pure-JS
// decompression run there, so the daemon's event loop never waits on them. Workers are
// started on demand (one per concurrent job, no upper bound: jobs never wait for one,
// so an apply that needs a zstd worker cannot deadlock), kept idle and unref'd for
// reuse, and ended after IDLE_MS unused.
//
// Entry: dist/diff/worker.js when compiled; under tsx/vitest (this file is .ts) the
// .ts entry is loaded through tsx's CommonJS hook.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

// Short: an idle worker thread costs ~10 MB of RSS, and imports apply their layers back to
// back, so only the gaps inside one import need bridging.
const IDLE_MS = 5_000;
const MAX_IDLE = 4;

export interface PooledWorker {
  readonly worker: Worker;
  /** Set while a job holds it. */
  busy: boolean;
  timer: NodeJS.Timeout | null;
}

let idle: PooledWorker[] = [];
const all = new Set<PooledWorker>();

function spawn(): Worker {
  const js = join(__dirname, 'worker.js');
  if (existsSync(js)) return new Worker(js);
  const ts = join(__dirname, 'worker.ts');
  let tsx: string;
  try {
    tsx = require.resolve('tsx/cjs/api');
  } catch {
    throw new Error(`berth diff worker: ${js} is missing (run npm run build)`);
  }
  const code = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(ts)});`;
  return new Worker(code, { eval: true });
}

/** A worker for one job; give it back with release() (or discard() if it is unusable). */
export function acquire(): PooledWorker {
  const pw = idle.pop();
  if (pw) {
    if (pw.timer) clearTimeout(pw.timer);
    pw.timer = null;
    pw.busy = true;
    pw.worker.ref();
    return pw;
  }
  const worker = spawn();
  const fresh: PooledWorker = { worker, busy: true, timer: null };
  all.add(fresh);
  worker.on('exit', () => {
    all.delete(fresh);
    idle = idle.filter((x) => x !== fresh);
  });
  // Errors are handled per job; this keeps an idle worker's crash from being unhandled.
  worker.on('error', () => undefined);
  return fresh;
}

export function release(pw: PooledWorker): void {
  pw.busy = false;
  if (!all.has(pw)) return;
  pw.worker.removeAllListeners('message');
  if (idle.length >= MAX_IDLE) {
    void pw.worker.terminate();
    return;
  }
  pw.worker.unref();
  pw.timer = setTimeout(() => {
    idle = idle.filter((x) => x !== pw);
    void pw.worker.terminate();
  }, IDLE_MS);
  pw.timer.unref();
  idle.push(pw);
}

export function discard(pw: PooledWorker): void {
  pw.busy = false;
  all.delete(pw);
  idle = idle.filter((x) => x !== pw);
  void pw.worker.terminate();
}

/** Starts idle workers ahead of time (the first apply otherwise pays ~20–80 ms for one). */
export function prewarm(count = 1): void {
  const add = Math.min(count, MAX_IDLE) - idle.length;
  for (let i = 0; i < add; i++) release(acquire());
}

/** Ends every worker (daemon shutdown, tests). */
export async function closeWorkers(): Promise<void> {
  const ws = [...all];
  all.clear();
  idle = [];
  await Promise.all(ws.map((pw) => {
    if (pw.timer) clearTimeout(pw.timer);
    return pw.worker.terminate();
  }));
}

/** Copies `chunks` into one fresh ArrayBuffer that can be transferred. */
export function packChunks(chunks: Buffer[], total: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(total));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** An error as it crosses the thread boundary. */
export interface WireError {
  message: string;
  code?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}
