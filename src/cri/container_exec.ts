// Exec through the streaming server (containerd's streamRuntime.Exec → execInternal): a
// process added to the container's task with the client's streams on FIFOs the shim opens,
// a pty when asked (resizes passed to ResizePty), stdin closed with CloseIO once the client
// ends it, the exit code once every byte of output was handed to the client. A client
// that goes away gets its process killed; the process is always deleted.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NotFoundError } from '../errdefs/errors';
import type { Process, Spec } from '../oci';
import type { RuntimeTask } from '../runtime';
import type { ProcessStreams } from './streaming';
import { generateId, runningTaskOf } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { FifoReader, FifoWriter, makeFifo } from './stream_fifo';
import { wrapErr } from './wrap_error';

const SIGKILL = 9;
const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** The exec's process spec: the container's, on a terminal or not, TERM=xterm with one. */
export function execProcessSpec(spec: Spec, cmd: string[], tty: boolean): Process {
  const base: Process = spec.process ?? { user: { uid: 0, gid: 0 }, cwd: '/' };
  const p: Process = { ...base, terminal: tty, args: [...cmd] };
  if (tty) {
    // oci.WithEnv: an existing TERM is replaced, otherwise appended.
    const env = (base.env ?? []).filter((e) => !e.startsWith('TERM='));
    p.env = [...env, 'TERM=xterm'];
  }
  return p;
}

/** Passes the client's terminal sizes to the process until the session ends. */
export function forwardResizes(streams: ProcessStreams, resize: (w: number, h: number) => Promise<void>, onError: (err: Error) => void): void {
  if (!streams.tty) return;
  void (async () => {
    try {
      for await (const size of streams.resize) {
        await resize(size.width, size.height).catch((err: unknown) => onError(err as Error));
      }
    } catch {
      // the session ended
    }
  })();
}

export async function execInContainer(rt: PodRuntime, containerId: string, cmd: string[], streams: ProcessStreams): Promise<number> {
  const c = rt.containers.find(containerId);
  if (!c) throw new NotFoundError(`failed to find container "${containerId}" in store: not found`);
  const { id, spec, task } = await runningTaskOf(rt, c);
  const tty = streams.tty;
  const execId = generateId();
  const dir = path.join(rt.containerIoDir(id), 'exec');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = {
    stdin: streams.stdin ? path.join(dir, `${execId}-stdin`) : '',
    stdout: path.join(dir, `${execId}-stdout`),
    stderr: tty ? '' : path.join(dir, `${execId}-stderr`),
  };
  const readers: FifoReader[] = [];
  let stdin: FifoWriter | undefined;
  let created = false;
  const killed = { value: false };
  try {
    for (const p of [paths.stdin, paths.stdout, paths.stderr]) if (p) makeFifo(p);
    readers.push(new FifoReader(paths.stdout, streams.stdout));
    if (paths.stderr) readers.push(new FifoReader(paths.stderr, streams.stderr));
    if (paths.stdin) stdin = new FifoWriter(paths.stdin);
    const pspec = execProcessSpec(spec, cmd, tty);
    await task
      .exec(execId, { type_url: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(pspec)) }, { ...paths, terminal: tty })
      .catch((err: unknown) => {
        throw wrapErr(`failed to create exec "${execId}"`, err);
      });
    created = true;
    const exited = task.wait(execId);
    exited.catch(() => undefined);
    await task.start(execId).catch((err: unknown) => {
      throw wrapErr(`failed to start exec "${execId}"`, err);
    });
    // The shim has opened the FIFOs: EOF from now on means the process's output ended.
    for (const r of readers) r.release();
    forwardResizes(streams, (w, h) => task.resizePty(execId, w, h), (err) => rt.log.error('failed to resize exec console', { id, execId, error: err }));
    if (stdin && streams.stdin) {
      const w = stdin;
      void w.copyFrom(streams.stdin).done.then(async () => {
        // StdinOnce: the client's end of stdin is the process's.
        await w.close();
        await task.closeIO(execId).catch(() => undefined);
      });
    }
    const onAbort = (): void => {
      killed.value = true;
      void task.kill(execId, SIGKILL, false).catch(() => undefined);
    };
    if (streams.signal.aborted) onAbort();
    else streams.signal.addEventListener('abort', onAbort, { once: true });
    let exit;
    try {
      exit = await exited.catch((err: unknown) => {
        throw wrapErr(`failed while waiting for exec "${execId}"`, err);
      });
    } finally {
      streams.signal.removeEventListener('abort', onAbort);
    }
    await drainOutput(task, execId, readers);
    return exit.exitStatus;
  } finally {
    if (created) {
      // process.Delete WithProcessKill.
      await task.kill(execId, SIGKILL, false).catch(() => undefined);
      await task.deleteProcess(execId).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) rt.log.error('failed to delete exec process', { id, execId, error: err as Error });
      });
    }
    for (const r of readers) r.destroy();
    // The process is gone: nothing will read what is still queued.
    stdin?.destroy();
    for (const p of [paths.stdin, paths.stdout, paths.stderr]) if (p) await fsp.rm(p, { force: true });
  }
}

/**
 * The process has exited; its output is complete once the shim closed the FIFOs. The shim
 * closes them when the process's pipes reach EOF (a child left holding them keeps them
 * open), and at the latest when the process is deleted.
 */
async function drainOutput(task: RuntimeTask, execId: string, readers: FifoReader[]): Promise<void> {
  const all = Promise.all(readers.map((r) => r.done));
  const quick = await Promise.race([all.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1000))]);
  if (quick) return;
  // Deleting makes the shim pass on what the pipes still hold and close the FIFOs; the
  // client may still be reading the tail, so wait for it (bounded: a shim that never
  // closes must not hold the session for ever).
  await task.deleteProcess(execId).catch(() => undefined);
  await Promise.race([all, new Promise<void>((r) => setTimeout(r, 30_000).unref())]);
}
