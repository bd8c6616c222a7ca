// gRPC server metrics under go-grpc-prometheus' names and labels (containerd 1.6 serves
// them through its interceptors): grpc_server_started_total, grpc_server_handled_total
// (with grpc_code), grpc_server_msg_received_total, grpc_server_msg_sent_total, and with
// [metrics] grpc_histogram the grpc_server_handling_seconds histogram. As there, every
// method of every registered service has its series from the start (zeros), handled_total
// once per code of grpc-go's codes list.
//
// The hot path: a call touches only its method's record (found once, when the service was
// added), a few number increments, and with the histogram two clock reads.
import { performance } from 'node:perf_hooks';
import type { GrpcCallObserver, GrpcMethodStats, GrpcMethodType } from '../grpc/call-observer';
import { renderLabels, type MetricFamily, type Sample } from './exposition';
import { DEFAULT_BUCKETS, HistogramSeries } from './histogram';

/** grpc-go's codes.Code.String() for codes 0–16. */
export const GRPC_CODE_NAMES: readonly string[] = Object.freeze([
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable',
  'DataLoss', 'Unauthenticated',
]);

/** grpc-go's name for a code outside the list. */
function codeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `Code(${code})`;
}

class MethodRecord implements GrpcMethodStats {
  startedCount = 0;
  receivedCount = 0;
  sentCount = 0;
  /** By code 0–16; codes outside the list (a handler's own number) in `otherCodes`. */
  readonly handledByCode = new Float64Array(GRPC_CODE_NAMES.length);
  otherCodes: Map<number, number> | undefined;
  /** `grpc_method="…",grpc_service="…",grpc_type="…"`, rendered once, as are the
   * handled_total labels of each code and the histogram's bucket labels. */
  readonly labels: string;
  readonly codeLabels: string[];
  readonly bucketLabels: string[];

  constructor(service: string, method: string, type: GrpcMethodType, readonly histogram: HistogramSeries | undefined) {
    this.labels = renderLabels({ grpc_type: type, grpc_service: service, grpc_method: method });
    this.codeLabels = GRPC_CODE_NAMES.map((name) => codeLabels(name, this.labels));
    this.bucketLabels = histogram ? HistogramSeries.bucketLabels(this.labels, DEFAULT_BUCKETS) : [];
  }

  started(): number {
    this.startedCount++;
    return this.histogram ? performance.now() : 0;
  }

  received(): void {
    this.receivedCount++;
  }

  sent(): void {
    this.sentCount++;
  }

  handled(code: number, startMark: number): void {
    if (code >= 0 && code < GRPC_CODE_NAMES.length) this.handledByCode[code] = (this.handledByCode[code] as number) + 1;
    else {
      this.otherCodes ??= new Map();
      this.otherCodes.set(code, (this.otherCodes.get(code) ?? 0) + 1);
    }
    if (this.histogram) this.histogram.observe((performance.now() - startMark) / 1000);
  }
}

export interface GrpcServerMetricsOptions {
  /** containerd's [metrics] grpc_histogram. */
  handlingTimeHistogram: boolean;
}

export class GrpcServerMetrics implements GrpcCallObserver {
  /** Keyed by "<service>/<method>": a service added twice (unix and TCP listeners share
   * one server, but a second server could be observed too) shares its records. */
  private readonly records = new Map<string, MethodRecord>();

  constructor(private readonly opts: GrpcServerMetricsOptions) {}

  method(service: string, method: string, type: GrpcMethodType): GrpcMethodStats {
    const key = `${service}/${method}`;
    let r = this.records.get(key);
    if (!r) {
      r = new MethodRecord(service, method, type, this.opts.handlingTimeHistogram ? new HistogramSeries(DEFAULT_BUCKETS) : undefined);
      this.records.set(key, r);
    }
    return r;
  }

  families(): MetricFamily[] {
    const records = [...this.records.values()].sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
    const started: Sample[] = [];
    const handled: Sample[] = [];
    const received: Sample[] = [];
    const sent: Sample[] = [];
    const histogram: Sample[] = [];
    for (const r of records) {
      started.push({ labels: r.labels, value: r.startedCount });
      received.push({ labels: r.labels, value: r.receivedCount });
      sent.push({ labels: r.labels, value: r.sentCount });
      r.handledByCode.forEach((n, code) => handled.push({ labels: r.codeLabels[code] as string, value: n }));
      for (const [code, n] of r.otherCodes ?? []) handled.push({ labels: codeLabels(codeName(code), r.labels), value: n });
      r.histogram?.samples(r.labels, r.bucketLabels, histogram);
    }
    // Records are in label order, so are started, received and sent; handled is sorted
    // by code first.
    const out: MetricFamily[] = [
      { name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', type: 'counter', samples: started, sorted: true },
      {
        name: 'grpc_server_handled_total',
        help: 'Total number of RPCs completed on the server, regardless of success or failure.',
        type: 'counter',
        samples: handled,
      },
      { name: 'grpc_server_msg_received_total', help: 'Total number of RPC stream messages received on the server.', type: 'counter', samples: received, sorted: true },
      { name: 'grpc_server_msg_sent_total', help: 'Total number of gRPC stream messages sent by the server.', type: 'counter', samples: sent, sorted: true },
    ];
    if (this.opts.handlingTimeHistogram) {
      out.push({
        name: 'grpc_server_handling_seconds',
        help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
        type: 'histogram',
        samples: histogram,
      });
    }
    return out;
  }
}

/** grpc_code goes first: it sorts before the method's label names. */
function codeLabels(code: string, rest: string): string {
  const pair = renderLabels({ grpc_code: code });
  return rest === '' ? pair : `${pair},${rest}`;
}
