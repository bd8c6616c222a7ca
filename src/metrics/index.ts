// berthd's Prometheus metrics: containerd's [metrics] endpoint.
export { DEFAULT_METRICS_TOML, type MetricsConfig } from './config';
export { MetricsEndpoint, METRICS_PATH, type Collector } from './endpoint';
export { encodeText, EXPOSITION_CONTENT_TYPE, type MetricFamily, type Sample } from './exposition';
export { GrpcServerMetrics } from './grpc-server';
export { nodejsFamilies, processFamilies } from './process-metrics';
export { TaskMetrics, type MonitoredTask, type TaskSource } from './task-metrics';
export { daemonTaskSource } from './task-source';
export { serveMetrics } from './serve';
