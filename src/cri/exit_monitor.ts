// What happens when a pause or container task exits (containerd's events.go:
// handleSandboxExit, handleContainerExit, and the TaskOOM handler). Exits are taken from
// the task's own Wait, which the runtime resolves from the shim's exit event, also for
// tasks reconnected after a berthd restart.
import { NotFoundError } from '../errdefs/errors';
import type { ExitInfo, RuntimeTask } from '../runtime';
import { sendContainerEvent } from './container_events';
import { deleteTaskKilling } from './core_ops';
import type { CriContainer } from './container_store';
import type { PodRuntime } from './pod_runtime';
import type { Sandbox } from './sandbox_store';
import { nowNanos, timestampToNanos } from './time';

/** Waits for the exit of `task` and hands it to onExit, unless berthd stops first. */
function watchExit(rt: PodRuntime, task: RuntimeTask, what: string, onExit: (exit: ExitInfo) => Promise<void>): void {
  void task.wait('').then(
    (exit) =>
      onExit(exit).catch((err: unknown) => {
        rt.log.error('handling task exit', { id: task.id, what, error: err as Error });
      }),
    (err: unknown) => {
      // The shim connection closed because berthd is stopping: the next berthd recovers.
      if (!(err instanceof NotFoundError)) rt.log.debug('task wait ended', { id: task.id, what, error: err as Error });
    },
  );
}

export function monitorSandboxExit(rt: PodRuntime, sb: Sandbox, task: RuntimeTask): void {
  watchExit(rt, task, 'sandbox', (exit) => handleSandboxExit(rt, sb, exit));
}

export async function handleSandboxExit(rt: PodRuntime, sb: Sandbox, _exit: ExitInfo): Promise<void> {
  try {
    await deleteTaskKilling(rt, sb.id);
  } catch (err) {
    // The exit stands whatever became of the task: StopPodSandbox must not wait for ever.
    rt.log.error('failed to delete the sandbox task after its exit', { id: sb.id, error: err as Error });
  }
  sb.updateStatus((s) => ({ ...s, state: 'notready', pid: 0 }));
  sb.stopped.stop();
  sendContainerEvent(rt, 'CONTAINER_STOPPED_EVENT', sb.id, sb.id);
}

export function monitorContainerExit(rt: PodRuntime, c: CriContainer, task: RuntimeTask): void {
  watchExit(rt, task, 'container', (exit) => handleContainerExit(rt, c, exit));
}

export async function handleContainerExit(rt: PodRuntime, c: CriContainer, exit: ExitInfo): Promise<void> {
  // The output is copied to the end before the task goes (its FIFOs close at delete).
  try {
    await deleteTaskKilling(rt, c.id);
    await c.output?.done;
  } catch (err) {
    rt.log.error('failed to delete the container task after its exit', { id: c.id, error: err as Error });
  }
  try {
    await c.status.updateSync((s) => {
      if (s.finishedAt === 0n) {
        s.pid = 0;
        s.finishedAt = timestampToNanos(exit.exitedAt) || nowNanos();
        s.exitCode = exit.exitStatus;
      }
      return s;
    });
  } finally {
    // Unknown can only become exited; StopContainer waits on the latch.
    c.status.update((s) => ({ ...s, unknown: false }));
    c.stopped.stop();
    sendContainerEvent(rt, 'CONTAINER_STOPPED_EVENT', c.id, c.metadata.sandboxId);
  }
}

/** A TaskOOM for a container: its exit reason becomes OOMKilled. */
export async function handleContainerOom(rt: PodRuntime, id: string): Promise<void> {
  const c = rt.containers.find(id);
  if (!c) return;
  await c.status.updateSync((s) => ({ ...s, reason: 'OOMKilled' }));
}
