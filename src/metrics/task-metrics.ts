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
import { METRICS_V1, METRICS_V2, metricsType } from '../shim/metrics';
import { fullName, type CgroupMetric, type Decoded } from './cgroup-metric';
import { CGROUP_V1_METRICS } from './cgroup-v1';
import { CGROUP_V2_METRICS } from './cgroup-v2';
import { checkLabelName, escapeLabelValue, yieldToLoop, type MetricFamily, type Sample } from './exposition';

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

/** One task's decoded stats, with what labels its series. */
export interface CollectedStats {
  id: string;
  namespace: string;
  runtime: string | undefined;
  table: readonly CgroupMetric[];
  stats: Decoded;
}

/** Tasks turned into series between two turns of the event loop. */
const TASKS_PER_TURN = 32;

function escape(v: string): string {
  return /[\\"\n]/.test(v) ? escapeLabelValue(v) : v;
}

/** Where each label of a metric with labels of its own comes from, in name order. */
type LabelPlan = ReadonlyArray<{ name: string; extra: number }>;

/**
 * Builds the container_* families, task by task. A series' labels are container_id,
 * namespace, runtime (when known) and the metric's own, sorted by name; the task's part is
 * escaped once per task, not once per series (hundreds of tasks make tens of thousands).
 */
export class CgroupFamilyBuilder {
  private readonly byName = new Map<string, { help: string; samples: Sample[] }>();
  private readonly plans = new Map<CgroupMetric, { withRuntime: LabelPlan; without: LabelPlan }>();

  add(c: CollectedStats): void {
    const base = new Map<string, string>([['container_id', escape(c.id)], ['namespace', escape(c.namespace)]]);
    if (c.runtime !== undefined) base.set('runtime', escape(c.runtime));
    // Already in name order: container_id < namespace < runtime.
    const baseLabels = [...base].map(([k, v]) => `${k}="${v}"`).join(',');
    for (const m of c.table) {
      const values = m.values(c.stats);
      if (!values || values.length === 0) continue;
      const name = fullName(m);
      let fam = this.byName.get(name);
      if (!fam) {
        fam = { help: m.help, samples: [] };
        this.byName.set(name, fam);
      }
      if (!m.labels || m.labels.length === 0) {
        for (const v of values) fam.samples.push({ labels: baseLabels, value: v.v });
        continue;
      }
      const plan = this.plan(m, c.runtime !== undefined);
      for (const v of values) {
        let labels = '';
        for (const p of plan) {
          const value = p.extra < 0 ? (base.get(p.name) as string) : escape(v.l?.[p.extra] ?? '');
          labels += labels === '' ? `${p.name}="${value}"` : `,${p.name}="${value}"`;
        }
        fam.samples.push({ labels, value: v.v });
      }
    }
  }

  families(): MetricFamily[] {
    return [...this.byName].map(([name, f]) => ({ name, help: f.help, type: 'gauge', samples: f.samples }));
  }

  private plan(m: CgroupMetric, withRuntime: boolean): LabelPlan {
    let p = this.plans.get(m);
    if (!p) {
      const make = (base: string[]): LabelPlan =>
        [...base.map((name) => ({ name, extra: -1 })), ...(m.labels ?? []).map((name, extra) => ({ name: checkLabelName(name), extra }))].sort((a, b) =>
          a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
        );
      p = { withRuntime: make(['container_id', 'namespace', 'runtime']), without: make(['container_id', 'namespace']) };
      this.plans.set(m, p);
    }
    return withRuntime ? p.withRuntime : p.without;
  }
}

/** The families of the given decoded stats (exported for the v2 unit tests: these hosts are v1). */
export function cgroupFamilies(collected: readonly CollectedStats[]): MetricFamily[] {
  const b = new CgroupFamilyBuilder();
  for (const c of collected) b.add(c);
  return b.families();
}

/** A Metrics message as plain data, uint64 as numbers (what Go's float64(x) makes of them). */
function decode(name: typeof METRICS_V1 | typeof METRICS_V2, bytes: Uint8Array): Decoded {
  const t = metricsType(name);
  return t.toObject(t.decode(bytes), { longs: Number, defaults: false }) as Decoded;
}

export class TaskMetrics {
  constructor(
    private readonly source: TaskSource,
    private readonly opts: TaskMetricsOptions,
  ) {}

  async families(): Promise<MetricFamily[]> {
    const tasks = await this.source.tasks();
    const collected = await this.collect(tasks);
    const b = new CgroupFamilyBuilder();
    for (let i = 0; i < collected.length; i += TASKS_PER_TURN) {
      for (const c of collected.slice(i, i + TASKS_PER_TURN)) b.add({ id: c.task.id, namespace: c.task.namespace, runtime: c.task.runtime, table: c.table, stats: c.stats });
      await yieldToLoop();
    }
    return b.families();
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
      if (type === METRICS_V1) return { task, table: CGROUP_V1_METRICS, stats: decode(METRICS_V1, any.value) };
      if (type === METRICS_V2) return { task, table: CGROUP_V2_METRICS, stats: decode(METRICS_V2, any.value) };
    } catch (err) {
      this.opts.log.warn('metrics: cannot decode task stats', { namespace: task.namespace, id: task.id, type, error: err as Error });
      return undefined;
    }
    this.opts.log.warn('metrics: task stats of an unknown type', { namespace: task.namespace, id: task.id, type });
    return undefined;
  }
}
