// Compile-time only: the hand-declared public cgroup metrics types (cgroup-metrics.ts) are
// exactly the types generated from proto/cgroups. If proto/ and the declarations drift
// apart, `true` is no longer assignable here and the build fails.
import type { CgroupV1Metrics, CgroupV2Metrics } from './cgroup-metrics';
import type { Metrics__Output as GeneratedV1 } from '../generated/types/io/containerd/cgroups/v1/Metrics';
import type { Metrics__Output as GeneratedV2 } from '../generated/types/io/containerd/cgroups/v2/Metrics';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const cgroupMetricsMatchProto: Same<CgroupV1Metrics, GeneratedV1> & Same<CgroupV2Metrics, GeneratedV2> = true;
