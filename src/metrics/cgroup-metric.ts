// One per-task cgroup metric as containerd's metrics/cgroups collectors define them: a name
// (written "container_<name>_<unit>", as docker/go-metrics' Namespace builds it under the
// "container" namespace), a help text, extra label names after container_id and namespace,
// and how to read its values from a decoded io.containerd.cgroups.v1|v2.Metrics message.

/** A decoded protobuf message (protobufjs toObject, uint64 as decimal strings). */
export type Decoded = { readonly [field: string]: unknown };

export interface CgroupValue {
  readonly v: number;
  /** Values of the metric's extra labels, in its `labels` order. */
  readonly l?: readonly string[];
}

export interface CgroupMetric {
  /** Without the "container_" prefix and unit suffix, as containerd names it. */
  readonly name: string;
  /** docker/go-metrics unit: appended to the name. */
  readonly unit: 'nanoseconds' | 'bytes' | 'total' | 'microseconds' | 'limit' | 'current';
  readonly help: string;
  readonly labels?: readonly string[];
  /** undefined/empty: nothing for this task (the message lacks that part). */
  values(stats: Decoded): readonly CgroupValue[] | undefined;
}

export function fullName(m: CgroupMetric): string {
  return `container_${m.name}_${m.unit}`;
}

/** A sub-message, or undefined when absent (Go's nil). */
export function sub(msg: Decoded | undefined, field: string): Decoded | undefined {
  const v = msg?.[field];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Decoded) : undefined;
}

/** A repeated message field (absent = empty). */
export function list(msg: Decoded | undefined, field: string): Decoded[] {
  const v = msg?.[field];
  return Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Decoded[]) : [];
}

/** A scalar as Go's float64(x): absent fields are zero, uint64 strings become numbers. */
export function num(msg: Decoded | undefined, field: string): number {
  const v = msg?.[field];
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return 0;
}

export function str(msg: Decoded | undefined, field: string): string {
  const v = msg?.[field];
  return typeof v === 'string' ? v : '';
}

/** A scalar under a sub-message: one value, or none when the sub-message is absent. */
export function field(part: string, ...path: string[]): (stats: Decoded) => CgroupValue[] | undefined {
  return (stats) => {
    const msg = sub(stats, part);
    if (!msg) return undefined;
    let cur: Decoded | undefined = msg;
    for (const p of path.slice(0, -1)) cur = sub(cur, p);
    return [{ v: num(cur, path[path.length - 1] as string) }];
  };
}
