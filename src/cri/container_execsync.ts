// ExecSync (containerd's container_execsync.go): run a command in a running container,
// collect stdout and stderr (each capped at 16 MiB, the rest dropped, as containerd's
// cappedWriter), answer its exit code. With a timeout the process is killed when it passes
// and the call fails with DeadlineExceeded ("timeout 1s exceeded: context deadline exceeded").
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ExecSyncRequest__Output } from '../generated/types/runtime/v1/ExecSyncRequest';
import type { ExecSyncResponse } from '../generated/types/runtime/v1/ExecSyncResponse';
import { DeadlineExceededError, NotFoundError, verbatim } from '../errdefs/errors';
import type { Process } from '../oci';
import type { RuntimeTask } from '../runtime';
import { generateId, runningTaskOf } from './core_ops';
import { goDurationSeconds } from './go_duration';
import type { PodRuntime } from './pod_runtime';
import { makeFifo } from './stream_fifo';
import { wrapErr } from './wrap_error';

/** containerd's maxStreamSize for ExecSync output. */
export const EXEC_SYNC_MAX_STREAM = 16 * 1024 * 1024;
const SIGKILL = 9;
const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

/** Bytes up to a cap; what is beyond it is read and dropped. */
class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private remain: number;
  constructor(cap: number) {
    this.remain = cap;
  }
  write(b: Buffer): void {
    if (this.remain <= 0) return;
    const part = b.length > this.remain ? b.subarray(0, this.remain) : b;
    this.chunks.push(Buffer.from(part));
    this.remain -= part.length;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A FIFO read into `sink` until EOF; `hold` is our write end, dropped once the shim has its own. */
function readFifo(p: string, sink: CappedBuffer): { done: Promise<void>; release: () => void; destroy: () => void } {
  const fd = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  let hold = fs.openSync(p, O_WRONLY | O_NONBLOCK);
  const sock = new net.Socket({ fd, readable: true, writable: false });
  const done = new Promise<void>((resolve) => {
    sock.on('data', (b: Buffer) => sink.write(b));
    sock.once('end', () => resolve());
    sock.once('close', () => resolve());
    sock.on('error', () => resolve());
  });
  const release = (): void => {
    if (hold >= 0) fs.closeSync(hold);
    hold = -1;
  };
  return { done, release, destroy: () => (release(), sock.destroy()) };
}

export async function execSyncRpc(rt: PodRuntime, req: ExecSyncRequest__Output): Promise<ExecSyncResponse> {
  try {
    return await execSync(rt, req);
  } catch (err) {
    if (err instanceof DeadlineExceededError) throw verbatim(new DeadlineExceededError(`failed to exec in container: ${err.context}`));
    throw wrapErr('failed to exec in container', err);
  }
}

async function execSync(rt: PodRuntime, req: ExecSyncRequest__Output): Promise<ExecSyncResponse> {
  let c;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    throw wrapErr(`failed to find container "${req.container_id}" in store`, err);
  }
  const { id, spec, task } = await runningTaskOf(rt, c);
  const pspec: Process = { ...(spec.process ?? { user: { uid: 0, gid: 0 }, cwd: '/' }), terminal: false, args: [...req.cmd] };
  const execId = generateId();
  const dir = path.join(rt.containerIoDir(id), 'exec');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const outPath = path.join(dir, `${execId}-stdout`);
  const errPath = path.join(dir, `${execId}-stderr`);
  makeFifo(outPath);
  makeFifo(errPath);
  const stdout = new CappedBuffer(EXEC_SYNC_MAX_STREAM);
  const stderr = new CappedBuffer(EXEC_SYNC_MAX_STREAM);
  const outR = readFifo(outPath, stdout);
  const errR = readFifo(errPath, stderr);
  let created = false;
  try {
    await task
      .exec(execId, { type_url: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(pspec)) }, { stdin: '', stdout: outPath, stderr: errPath, terminal: false })
      .catch((err: unknown) => {
        throw wrapErr(`failed to create exec "${execId}"`, err);
      });
    created = true;
    const exited = task.wait(execId);
    await task.start(execId).catch((err: unknown) => {
      throw wrapErr(`failed to start exec "${execId}"`, err);
    });
    // The shim opens an exec's FIFOs when it starts it: only now does EOF mean the end.
    outR.release();
    errR.release();
    const timeoutS = Number(req.timeout);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = timeoutS > 0 ? new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutS * 1000))) : new Promise<'timeout'>(() => undefined);
    const first = await Promise.race([exited, timedOut]);
    if (timer) clearTimeout(timer);
    if (first === 'timeout') {
      await task.kill(execId, SIGKILL, false).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw wrapErr(`failed to kill exec "${execId}"`, err);
      });
      await exited.catch(() => undefined);
      await drain(task, execId, [outR.done, errR.done]);
      throw verbatim(new DeadlineExceededError(`timeout ${goDurationSeconds(timeoutS)} exceeded: context deadline exceeded`));
    }
    await drain(task, execId, [outR.done, errR.done]);
    return { stdout: stdout.bytes(), stderr: stderr.bytes(), exit_code: first.exitStatus };
  } finally {
    if (created) {
      // process.Delete WithProcessKill.
      await task.kill(execId, SIGKILL, false).catch(() => undefined);
      await task.deleteProcess(execId).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) rt.log.error('failed to delete exec process', { id, execId, error: err as Error });
      });
    }
    outR.destroy();
    errR.destroy();
    await fsp.rm(outPath, { force: true });
    await fsp.rm(errPath, { force: true });
  }
}

/** The exec's output is complete once the shim closed the FIFOs: deleting the process
 * makes it do so (berth's shim waits for pipe output at delete), so wait for EOF a moment. */
async function drain(task: RuntimeTask, execId: string, done: Array<Promise<void>>): Promise<void> {
  const all = Promise.all(done);
  const quick = await Promise.race([all.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
  if (quick) return;
  await task.deleteProcess(execId).catch(() => undefined);
  await Promise.race([all, new Promise<void>((r) => setTimeout(r, 2000))]);
}
