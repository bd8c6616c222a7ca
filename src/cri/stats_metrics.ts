// CRI cpu and memory usage from a task's cgroup metrics (containerd's cpuContainerStats
// and memoryContainerStats, cgroup v1 and v2), with usage_nano_cores derived from the
// previous sample of the same container or sandbox.
import type { CpuUsage } from '../generated/types/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../generated/types/runtime/v1/MemoryUsage';
import { decodeMetrics, METRICS_V1, METRICS_V2 } from '../shim/metrics';
import type { WireAny } from '../proto/any';
import { UnknownError } from '../errdefs/errors';
import { typeNameOf } from '../proto/type-url';

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

/** What CRI needs of either cgroup version's metrics, in v1's units. */
interface CgroupUsage {
  cpuTotalNs: bigint | undefined;
  memory: { usage: bigint; inactiveFile: bigint; limit: bigint; rss: bigint; pgFault: bigint; pgMajFault: bigint } | undefined;
}

function cgroupUsage(data: WireAny): CgroupUsage {
  const type = typeNameOf(data.type_url);
  if (type === METRICS_V1) {
    const m = decodeMetrics(METRICS_V1, data.value);
    const cpuUsage = (m.cpu as Obj | undefined)?.usage as Obj | undefined;
    const mem = m.memory as Obj | undefined;
    const usage = mem?.usage as Obj | undefined;
    return {
      cpuTotalNs: cpuUsage ? big(cpuUsage.total) : undefined,
      memory:
        mem && usage
          ? { usage: big(usage.usage), inactiveFile: big(mem.total_inactive_file), limit: big(usage.limit), rss: big(mem.total_rss), pgFault: big(mem.total_pg_fault), pgMajFault: big(mem.total_pg_maj_fault) }
          : undefined,
    };
  }
  if (type === METRICS_V2) {
    const m = decodeMetrics(METRICS_V2, data.value);
    const c = m.cpu as Obj | undefined;
    const mem = m.memory as Obj | undefined;
    return {
      cpuTotalNs: c ? big(c.usage_usec) * 1000n : undefined,
      memory: mem ? { usage: big(mem.usage), inactiveFile: big(mem.inactive_file), limit: big(mem.usage_limit), rss: big(mem.anon), pgFault: big(mem.pgfault), pgMajFault: big(mem.pgmajfault) } : undefined,
    };
  }
  throw new UnknownError(`unexpected metrics type: ${data.type_url}`);
}

export function usageFromMetrics(id: string, data: WireAny, at: bigint, samples: CpuSamples): UsageSample {
  const { cpuTotalNs, memory: mem } = cgroupUsage(data);
  const ts = at.toString();
  const cpu: CpuUsage | null =
    cpuTotalNs === undefined ? null : { timestamp: ts, usage_core_nano_seconds: u64(cpuTotalNs), usage_nano_cores: u64(samples.nanoCores(id, cpuTotalNs, at)) };
  let memory: MemoryUsage | null = null;
  if (mem) {
    // The working set as kubelet's eviction reads it: usage less inactive file pages.
    const ws = mem.inactiveFile < mem.usage ? mem.usage - mem.inactiveFile : 0n;
    memory = {
      timestamp: ts,
      working_set_bytes: u64(ws),
      available_bytes: u64(mem.limit > MAX_MEMORY ? 0n : mem.limit - ws),
      usage_bytes: u64(mem.usage),
      rss_bytes: u64(mem.rss),
      page_faults: u64(mem.pgFault),
      major_page_faults: u64(mem.pgMajFault),
    };
  }
  return { cpu, memory };
}
