// Attach through the streaming server (containerd's streamRuntime.Attach → attachContainer
// and ContainerIO.Attach): the client's stdout/stderr get the container's output live from
// the copy that also feeds the CRI log, its stdin goes into the stdin FIFO berthd holds for
// containers created with `stdin: true`. When the client ends its stdin: with stdin_once
// (and no tty) the container's stdin is closed for good, otherwise the attach ends and the
// FIFO stays open for the next one.
import { promises as fsp } from 'node:fs';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import type { ProcessStreams } from './streaming';
import { stdinFifoPath } from './container_io';
import { stateOf } from './container_status_file';
import type { OutputAttachment } from './container_store';
import { findTask } from './core_ops';
import { forwardResizes } from './container_exec';
import type { PodRuntime } from './pod_runtime';

export async function attachContainer(rt: PodRuntime, containerId: string, streams: ProcessStreams): Promise<void> {
  const c = rt.containers.find(containerId);
  if (!c) throw new NotFoundError(`failed to find container "${containerId}" in store: not found`);
  const id = c.id;
  const state = stateOf(c.status.get());
  if (state !== 'CONTAINER_RUNNING') throw new UnknownError(`container is in ${state} state`);
  const task = findTask(rt, id);
  if (!task) throw new UnknownError(`failed to load task: no running task found: task ${id} not found: not found`);
  const output = c.output;
  if (!output) throw new UnknownError(`container "${id}" has no output to attach to`);
  const config = c.metadata.config;
  const tty = config.tty;
  forwardResizes(streams, (w, h) => task.resizePty('', w, h), (err) => rt.log.error('failed to resize task console', { id, error: err }));

  const outputs: OutputAttachment[] = [];
  if (streams.stdout) outputs.push(output.attachOutput('stdout', streams.stdout));
  if (!tty && streams.stderr) outputs.push(output.attachOutput('stderr', streams.stderr));
  const detachAll = (): void => {
    for (const o of outputs) o.detach();
  };
  const waits: Array<Promise<void>> = outputs.map((o) => o.done);

  const stdin = output.stdin;
  let stopStdin: () => void = () => undefined;
  if (stdin && streams.stdin) {
    const copy = stdin.copyFrom(streams.stdin);
    stopStdin = copy.stop;
    waits.push(
      copy.done.then(async (ended) => {
        if (!ended) return;
        if (config.stdin_once && !tty) {
          // The container's stdin ends with the first attach: no later one can reopen it.
          await stdin.close();
          await task.closeIO('').catch((err: unknown) => rt.log.error('failed to close container stdin', { id, error: err as Error }));
          await fsp.rm(stdinFifoPath(rt.containerIoDir(id)), { force: true });
        } else {
          detachAll();
        }
      }),
    );
  }
  // An output stream of the client ending ends its stdin copy too (attachStream).
  for (const o of outputs) void o.done.then(() => stopStdin());
  const onAbort = (): void => {
    detachAll();
    stopStdin();
  };
  if (streams.signal.aborted) onAbort();
  else streams.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(waits);
  } finally {
    streams.signal.removeEventListener('abort', onAbort);
  }
}
