// CRI cpu and memory usage from a task's cgroup metrics (containerd's cpuContainerStats
// and memoryContainerStats, cgroup v1 and v2), with usage_nano_cores derived from the
// previous sample of the same container or sandbox.
import type { CpuUsage } from '../generated/types/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../generated/types/runtime/v1/MemoryUsage';
import { decodeMetrics, METRICS_V1, METRICS_V2 } from '../shim/metrics';
import type { WireAny } from '../proto/any';
import { UnknownError } from '../errdefs/errors';

/** The last cpu sample per container/sandbox id, for usage_nano_cores. */
export class CpuSamples {
  private readonly last = new Map<string, { usage: bigint; at: bigint }>();

  nanoCores(id: string, usage: bigint, at: bigint): bigint {
    const prev = this.last.get(id);
    this.last.set(id, { usage, at });
    if (!prev) return 0n;
    const dt = at - prev.at;
    if (dt <= 0n || usage < prev.usage) return 0n;
    return ((usage - prev.usage) * 1_000_000_000n) / dt;
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}

type Obj = Record<string, unknown>;
const big = (v: unknown): bigint => (v === undefined || v === null ? 0n : BigInt(v as string));
const u64 = (v: bigint): { value: string } => ({ value: v.toString() });
const MAX_MEMORY = 1n << 62n;

export interface UsageSample {
  cpu: CpuUsage | null;
  memory: MemoryUsage | null;
}

export function usageFromMetrics(id: string, data: WireAny, at: bigint, samples: CpuSamples): UsageSample {
  const type = data.type_url.replace(/^.*\//, '');
  const ts = at.toString();
  if (type === METRICS_V1) {
    const m = decodeMetrics(METRICS_V1, data.value);
    const cpuUsage = (m.cpu as Obj | undefined)?.usage as Obj | undefined;
    const cpu: CpuUsage | null = cpuUsage
      ? { timestamp: ts, usage_core_nano_seconds: u64(big(cpuUsage.total)), usage_nano_cores: u64(samples.nanoCores(id, big(cpuUsage.total), at)) }
      : null;
    const mem = m.memory as Obj | undefined;
    const usage = mem?.usage as Obj | undefined;
    let memory: MemoryUsage | null = null;
    if (mem && usage) {
      const used = big(usage.usage);
      const inactive = big(mem.total_inactive_file);
      const ws = inactive < used ? used - inactive : 0n;
      const limit = big(usage.limit);
      memory = {
        timestamp: ts,
        working_set_bytes: u64(ws),
        available_bytes: u64(limit > MAX_MEMORY ? 0n : limit - ws),
        usage_bytes: u64(used),
        rss_bytes: u64(big(mem.total_rss)),
        page_faults: u64(big(mem.total_pg_fault)),
        major_page_faults: u64(big(mem.total_pg_maj_fault)),
      };
    }
    return { cpu, memory };
  }
  if (type === METRICS_V2) {
    const m = decodeMetrics(METRICS_V2, data.value);
    const c = m.cpu as Obj | undefined;
    const cpu: CpuUsage | null = c
      ? (() => {
          const total = big(c.usage_usec) * 1000n;
          return { timestamp: ts, usage_core_nano_seconds: u64(total), usage_nano_cores: u64(samples.nanoCores(id, total, at)) };
        })()
      : null;
    const mem = m.memory as Obj | undefined;
    let memory: MemoryUsage | null = null;
    if (mem) {
      const used = big(mem.usage);
      const inactive = big(mem.inactive_file);
      const ws = inactive < used ? used - inactive : 0n;
      const limit = big(mem.usage_limit);
      memory = {
        timestamp: ts,
        working_set_bytes: u64(ws),
        available_bytes: u64(limit > MAX_MEMORY ? 0n : limit - ws),
        usage_bytes: u64(used),
        rss_bytes: u64(big(mem.anon)),
        page_faults: u64(big(mem.pgfault)),
        major_page_faults: u64(big(mem.pgmajfault)),
      };
    }
    return { cpu, memory };
  }
  throw new UnknownError(`unexpected metrics type: ${data.type_url}`);
}
