// The daemon's tasks as the metrics collector sees them: every namespace's live tasks,
// with the container's runtime name for containerd's "runtime" label.
import { NotFoundError } from '../errdefs/errors';
import type { MonitoredTask, TaskSource, TaskStatsAny } from './task-metrics';

/** The parts of berthd's stores and task manager the source reads. */
export interface TaskSourceDeps {
  namespaces: { list(): Promise<ReadonlyArray<{ name: string }>> };
  containers: { get(ns: string, id: string): Promise<{ runtime: { name: string } }> };
  tasks: {
    list(ns: string): ReadonlyArray<{
      readonly id: string;
      readonly namespace: string;
      stats(opts: { signal?: AbortSignal; timeoutMs?: number }): Promise<TaskStatsAny | null>;
    }>;
  };
}

export function daemonTaskSource(deps: TaskSourceDeps): TaskSource {
  return {
    async tasks(): Promise<MonitoredTask[]> {
      const out: MonitoredTask[] = [];
      for (const ns of await deps.namespaces.list()) {
        for (const t of deps.tasks.list(ns.name)) {
          // containerd labels a task with its container's runtime name. It only knows it for
          // tasks created since it started (not for those it reconnected to); berthd labels
          // every task, so a series keeps its labels across a daemon restart.
          const runtime = await deps.containers.get(ns.name, t.id).then(
            (c) => c.runtime.name,
            (err: unknown) => {
              if (err instanceof NotFoundError) return undefined;
              throw err;
            },
          );
          out.push({ id: t.id, namespace: t.namespace, runtime, stats: (opts) => t.stats(opts) });
        }
      }
      return out;
    },
  };
}
