// The [metrics] section: containerd's keys and meaning.

export interface MetricsConfig {
  /** "host:port" of the Prometheus endpoint (/v1/metrics); "" = none. */
  address: string;
  /** Also the gRPC handling-time histogram (grpc_server_handling_seconds). */
  grpc_histogram: boolean;
}

/** Its part of `berthd config default`. */
export const DEFAULT_METRICS_TOML = `[metrics]
# Prometheus metrics, as containerd's [metrics]: "host:port" of a plain HTTP listener
# serving /v1/metrics (task cgroup metrics, gRPC server calls, the process); "" = none.
# No authentication: loopback or a trusted network only.
address = ""
# Also time every gRPC call into a histogram (grpc_server_handling_seconds).
grpc_histogram = false
`;
