// A Prometheus histogram series: observations counted into buckets with upper bounds,
// written as cumulative `_bucket{le="…"}` lines (the last one le="+Inf"), `_sum` and `_count`.
import { formatValue, withTrailingLabel, type Sample } from './exposition';

/** Go client's prometheus.DefBuckets (seconds), which go-grpc-prometheus' histogram uses. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

export class HistogramSeries {
  /** counts[i]: observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    // A dozen bounds: a linear scan is as fast as a binary search and simpler.
    while (i < b.length && v > (b[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += v;
    this.count++;
  }

  /** The labels of each bucket line (`le` last, the +Inf one at the end), for bucketLabels(). */
  static bucketLabels(labels: string, bounds: readonly number[]): string[] {
    return [...bounds.map((b) => withTrailingLabel(labels, 'le', formatValue(b))), withTrailingLabel(labels, 'le', '+Inf')];
  }

  /** The series' lines into `out`: `labels` (rendered) on each, `bucketLabels` from
   * HistogramSeries.bucketLabels(labels, bounds), computed once by the caller. */
  samples(labels: string, bucketLabels: readonly string[], out: Sample[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      out.push({ suffix: '_bucket', labels: bucketLabels[i] as string, value: cumulative });
    }
    out.push({ suffix: '_bucket', labels: bucketLabels[this.bounds.length] as string, value: this.count });
    out.push({ suffix: '_sum', labels, value: this.sum });
    out.push({ suffix: '_count', labels, value: this.count });
  }
}
