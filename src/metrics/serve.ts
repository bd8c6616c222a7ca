// Everything berthd's endpoint serves, put together: task cgroup metrics, gRPC server
// metrics, process and Node.js metrics.
import type { Logger } from '../log/logger';
import { MetricsEndpoint } from './endpoint';
import type { GrpcServerMetrics } from './grpc-server';
import { nodejsFamilies, processFamilies } from './process-metrics';
import { TaskMetrics, type TaskSource } from './task-metrics';

/** How long one scrape waits for the shims' stats, in all (Prometheus' default scrape
 * timeout is 10 s; a stuck shim must not make every scrape fail). */
export const TASK_STATS_TIMEOUT_MS = 5_000;
/** Stats calls in flight at once during a scrape. */
export const TASK_STATS_CONCURRENCY = 16;

export interface ServeMetricsOptions {
  host: string;
  port: number;
  grpc: GrpcServerMetrics;
  tasks: TaskSource;
  log: Logger;
}

export function serveMetrics(opts: ServeMetricsOptions): Promise<MetricsEndpoint> {
  const tasks = new TaskMetrics(opts.tasks, { timeoutMs: TASK_STATS_TIMEOUT_MS, concurrency: TASK_STATS_CONCURRENCY, log: opts.log });
  return MetricsEndpoint.start({
    host: opts.host,
    port: opts.port,
    collectors: [() => tasks.families(), () => opts.grpc.families(), processFamilies, nodejsFamilies],
    log: opts.log,
  });
}
