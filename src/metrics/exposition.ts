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

/** Families with samples, sorted by name; a name twice is a bug (two collectors' overlap). */
function orderFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const sorted = families.filter((f) => f.samples.length > 0).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if ((sorted[i] as MetricFamily).name === (sorted[i - 1] as MetricFamily).name) throw new Error(`metric family ${(sorted[i] as MetricFamily).name} collected twice`);
  }
  return sorted;
}

/** One family's text: HELP, TYPE, then its samples (sorted by labels unless a histogram,
 * whose series come in bucket, ..., +Inf, sum, count order, or already sorted). */
function encodeFamily(f: MetricFamily, parts: string[]): void {
  checkMetricName(f.name);
  parts.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
  const samples = f.type === 'histogram' || f.sorted ? f.samples : [...f.samples].sort(compareSamples);
  for (const s of samples) {
    const name = s.suffix ? f.name + s.suffix : f.name;
    parts.push(s.labels === '' ? `${name} ${formatValue(s.value)}\n` : `${name}{${s.labels}} ${formatValue(s.value)}\n`);
  }
}

/** The text of all families: those without samples are left out (as Go's client leaves
 * them out), the others sorted by name. */
export function encodeText(families: readonly MetricFamily[]): string {
  const parts: string[] = [];
  for (const f of orderFamilies(families)) encodeFamily(f, parts);
  return parts.join('');
}

/** Samples written between two turns of the event loop by encodeTextYielding. */
const SAMPLES_PER_TURN = 4096;

/**
 * encodeText for large outputs (hundreds of tasks make tens of thousands of lines): the
 * event loop gets a turn every few thousand samples, so that gRPC calls waiting meanwhile
 * are not held up by a scrape.
 */
export async function encodeTextYielding(families: readonly MetricFamily[]): Promise<string> {
  const parts: string[] = [];
  let since = 0;
  for (const f of orderFamilies(families)) {
    encodeFamily(f, parts);
    since += f.samples.length;
    if (since >= SAMPLES_PER_TURN) {
      since = 0;
      await yieldToLoop();
    }
  }
  return parts.join('');
}

/** Lets the event loop run what is waiting (I/O included) before going on. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
