// Per-task cgroup metrics, collected when Prometheus scrapes (as containerd's cgroups
// collector does): every task's Stats through its shim, exactly as Tasks.Metrics asks for
// them, decoded (io.containerd.cgroups.v1 or v2 Metrics) and written under containerd's
// names with labels container_id, namespace, runtime and the metric's own.
//
// A scrape is bounded: the shims are asked a few at a time and only until a deadline; a
// task that has not answered by then (a stuck shim) is left out of that scrape, never
// holding it up. Tasks whose shim says they have no stats (exited) are left out silently.
import type { Logger } from '../log/logger';
import { NotFoundError } from '../errdefs/errors';
import { decodeMetrics, METRICS_V1, METRICS_V2 } from '../shim/metrics';
import { fullName, type CgroupMetric, type Decoded } from './cgroup-metric';
import { CGROUP_V1_METRICS } from './cgroup-v1';
import { CGROUP_V2_METRICS } from './cgroup-v2';
import { renderLabels, type MetricFamily, type Sample } from './exposition';

/** A task's stats as the runtime returns them (Tasks.Metrics' data). */
export interface TaskStatsAny {
  type_url: string;
  value: Buffer;
}

export interface MonitoredTask {
  readonly id: string;
  readonly namespace: string;
  /** The container's runtime name (containerd's "runtime" label); undefined if unknown. */
  readonly runtime: string | undefined;
  stats(opts: { signal: AbortSignal; timeoutMs: number }): Promise<TaskStatsAny | null>;
}

export interface TaskSource {
  /** The tasks alive now, in every namespace. */
  tasks(): Promise<MonitoredTask[]>;
}

export interface TaskMetricsOptions {
  /** How long one scrape may wait for shims, in all. */
  timeoutMs: number;
  /** Stats calls in flight at once. */
  concurrency: number;
  log: Logger;
}

/** The Any's type, whether or not it carries a "types.googleapis.com/"-style prefix. */
function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** A task's decoded stats and which metric table reads them. */
interface TaskStats {
  task: MonitoredTask;
  table: readonly CgroupMetric[];
  stats: Decoded;
}

/** Writes the families of the given decoded stats (exported for the v2 unit tests: these hosts are v1). */
export function cgroupFamilies(collected: ReadonlyArray<{ id: string; namespace: string; runtime: string | undefined; table: readonly CgroupMetric[]; stats: Decoded }>): MetricFamily[] {
  const families = new Map<string, { help: string; samples: Sample[] }>();
  for (const c of collected) {
    const base: Record<string, string> = { container_id: c.id, namespace: c.namespace };
    if (c.runtime !== undefined) base['runtime'] = c.runtime;
    for (const m of c.table) {
      const values = m.values(c.stats);
      if (!values || values.length === 0) continue;
      const name = fullName(m);
      let fam = families.get(name);
      if (!fam) {
        fam = { help: m.help, samples: [] };
        families.set(name, fam);
      }
      for (const v of values) {
        const labels: Record<string, string> = { ...base };
        m.labels?.forEach((l, i) => (labels[l] = v.l?.[i] ?? ''));
        fam.samples.push({ labels: renderLabels(labels), value: v.v });
      }
    }
  }
  return [...families].map(([name, f]) => ({ name, help: f.help, type: 'gauge', samples: f.samples }));
}

export class TaskMetrics {
  constructor(
    private readonly source: TaskSource,
    private readonly opts: TaskMetricsOptions,
  ) {}

  async families(): Promise<MetricFamily[]> {
    const tasks = await this.source.tasks();
    const collected = await this.collect(tasks);
    return cgroupFamilies(collected.map((c) => ({ id: c.task.id, namespace: c.task.namespace, runtime: c.task.runtime, table: c.table, stats: c.stats })));
  }

  private async collect(tasks: MonitoredTask[]): Promise<TaskStats[]> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.timeoutMs);
    timer.unref();
    const out: Array<TaskStats | undefined> = new Array(tasks.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length && !abort.signal.aborted) {
        const i = next++;
        out[i] = await this.one(tasks[i] as MonitoredTask, abort.signal, deadline);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, tasks.length) }, worker));
    } finally {
      clearTimeout(timer);
    }
    const late = tasks.length - out.filter((x) => x !== undefined).length;
    if (abort.signal.aborted && late > 0) this.opts.log.warn('metrics: tasks left out of a scrape, their shims did not answer in time', { tasks: late, timeoutMs: this.opts.timeoutMs });
    return out.filter((x): x is TaskStats => x !== undefined);
  }

  private async one(task: MonitoredTask, signal: AbortSignal, deadline: number): Promise<TaskStats | undefined> {
    let any: TaskStatsAny | null;
    try {
      any = await task.stats({ signal, timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      // Exited tasks have no stats; a timeout is reported once per scrape by collect().
      if (!(err instanceof NotFoundError) && !signal.aborted) this.opts.log.warn('metrics: stat task', { namespace: task.namespace, id: task.id, error: err as Error });
      return undefined;
    }
    if (!any) return undefined;
    const type = typeName(any.type_url);
    try {
      if (type === METRICS_V1) return { task, table: CGROUP_V1_METRICS, stats: decodeMetrics(METRICS_V1, any.value) };
      if (type === METRICS_V2) return { task, table: CGROUP_V2_METRICS, stats: decodeMetrics(METRICS_V2, any.value) };
    } catch (err) {
      this.opts.log.warn('metrics: cannot decode task stats', { namespace: task.namespace, id: task.id, type, error: err as Error });
      return undefined;
    }
    this.opts.log.warn('metrics: task stats of an unknown type', { namespace: task.namespace, id: task.id, type });
    return undefined;
  }
}
