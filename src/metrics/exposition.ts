// Prometheus' text exposition format, version 0.0.4 (what containerd's /v1/metrics serves):
// per family a "# HELP" and a "# TYPE" line, then its samples, one a line:
//   name{label="value",...} value
// HELP text escapes backslash and newline; label values escape backslash, double quote
// and newline; values are Go-parsable floats with NaN, +Inf and -Inf spelled that way.
// Families are written sorted by name and samples by their labels, as Go's client does, so
// the output is stable from one scrape to the next.

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'untyped';

/** One line of a family. `labels` is already rendered (see renderLabels), without braces. */
export interface Sample {
  /** Appended to the family name: '_bucket', '_sum', '_count' for histograms, '' otherwise. */
  readonly suffix?: string;
  readonly labels: string;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
  /** The samples are in order already (a collector that keeps them so saves the sort). */
  readonly sorted?: boolean;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws for a name Prometheus would refuse: names are fixed in code, so this is a bug. */
export function checkMetricName(name: string): string {
  if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
  return name;
}

export function checkLabelName(name: string): string {
  // "__" is reserved for Prometheus' own labels; "le" and "quantile" for histograms and summaries.
  if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(name)}`);
  return name;
}

export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

/** `a="x",b="y"` with the names sorted (Go's client sorts them too). */
export function renderLabels(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  let out = '';
  for (const n of names) {
    if (out !== '') out += ',';
    out += `${checkLabelName(n)}="${escapeLabelValue(labels[n] as string)}"`;
  }
  return out;
}

/** A sample value as Go's strconv.ParseFloat reads it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  // -0 prints as "0" in JS; Prometheus does not distinguish them.
  return String(v);
}

/** `labels` with one more pair written last, as Go's client writes `le` and `quantile`. */
export function withTrailingLabel(labels: string, name: string, value: string): string {
  const pair = `${name}="${escapeLabelValue(value)}"`;
  return labels === '' ? pair : `${labels},${pair}`;
}

function compareSamples(a: Sample, b: Sample): number {
  if (a.labels !== b.labels) return a.labels < b.labels ? -1 : 1;
  return 0;
}

/**
 * The text of all families: those without samples are left out (as Go's client leaves
 * them out), the others sorted by name. Histogram samples keep the order they are given
 * in (bucket, ..., +Inf, sum, count per series), since that order is part of the format.
 */
export function encodeText(families: readonly MetricFamily[]): string {
  const sorted = families.filter((f) => f.samples.length > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [];
  let last = '';
  for (const f of sorted) {
    if (f.name === last) throw new Error(`metric family ${f.name} collected twice`);
    last = f.name;
    checkMetricName(f.name);
    parts.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    const samples = f.type === 'histogram' || f.sorted ? f.samples : [...f.samples].sort(compareSamples);
    for (const s of samples) {
      const name = s.suffix ? f.name + s.suffix : f.name;
      parts.push(s.labels === '' ? `${name} ${formatValue(s.value)}\n` : `${name}{${s.labels}} ${formatValue(s.value)}\n`);
    }
  }
  return parts.join('');
}
