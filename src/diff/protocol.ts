// Messages between the main thread and a diff worker (worker.ts). One job at a time
// per worker; `id` guards against stale messages of an aborted job.

import type { ApplyLayerOptions, ApplyResult } from './applier';
import type { WireError } from './workerpool';

export type ToWorker =
  | { t: 'apply'; id: number; root: string; opts: ApplyLayerOptions }
  /** Apply a layer the worker reads itself: `size` bytes at fd (a blob the main thread
   * holds open until the job ends), gunzipped in the worker when gzip. */
  | { t: 'applyFd'; id: number; root: string; opts: ApplyLayerOptions; fd: number; size: number; gzip: boolean }
  /** Next bytes of the job's input (apply: the tar; zstd: the compressed stream). */
  | { t: 'chunk'; id: number; buf: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number }
  | { t: 'zstd'; id: number }
  /** zstd: the consumer took this many output bytes. */
  | { t: 'zack'; id: number; bytes: number };

export type FromWorker =
  /** This many input bytes were processed. */
  | { t: 'ack'; id: number; bytes: number }
  | { t: 'done'; id: number; result: ApplyResult }
  | { t: 'error'; id: number; error: WireError }
  /** zstd output. */
  | { t: 'zdata'; id: number; buf: Uint8Array }
  | { t: 'zend'; id: number };
