// Prometheus' text format as src/metrics writes it: HELP/TYPE lines, escaping of help texts
// and label values, value spelling, histogram buckets (cumulative, le last, +Inf, _sum,
// _count), ordering; and the written text read back by Debian's promtool, which must find
// no error in it. Also the [metrics] config section.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_TOML, loadConfig } from '../../src/daemon/config';
import { encodeText, escapeHelp, escapeLabelValue, formatValue, renderLabels, type MetricFamily, type Sample } from '../../src/metrics/exposition';
import { DEFAULT_BUCKETS, HistogramSeries } from '../../src/metrics/histogram';
import { promtoolCheck } from '../harness/prometheus';

describe('exposition', () => {
  it('escapes help texts and label values as the format says', () => {
    expect(escapeHelp('a\\b\nc "q"')).toBe('a\\\\b\\nc "q"');
    expect(escapeLabelValue('a\\b\nc "q"')).toBe('a\\\\b\\nc \\"q\\"');
    expect(renderLabels({ z: '1', a: 'x"y', m: '' })).toBe('a="x\\"y",m="",z="1"');
    expect(() => renderLabels({ '0bad': 'x' })).toThrow(/invalid label name/);
    expect(() => renderLabels({ __name__: 'x' })).toThrow(/invalid label name/);
  });

  it('spells values as Go parses them', () => {
    expect(formatValue(0)).toBe('0');
    expect(formatValue(1.5)).toBe('1.5');
    expect(formatValue(18446744073709551615)).toBe('18446744073709552000');
    expect(formatValue(1e-7)).toBe('1e-7');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
  });

  it('writes families sorted by name, samples by labels, and leaves out empty families', () => {
    const fams: MetricFamily[] = [
      { name: 'b_total', help: 'B.', type: 'counter', samples: [{ labels: 'k="2"', value: 2 }, { labels: 'k="1"', value: 1 }] },
      { name: 'a', help: 'A\nline', type: 'gauge', samples: [{ labels: '', value: 3 }] },
      { name: 'empty', help: 'none', type: 'gauge', samples: [] },
    ];
    expect(encodeText(fams)).toBe(
      ['# HELP a A\\nline', '# TYPE a gauge', 'a 3', '# HELP b_total B.', '# TYPE b_total counter', 'b_total{k="1"} 1', 'b_total{k="2"} 2', ''].join('\n'),
    );
    expect(() => encodeText([fams[1] as MetricFamily, fams[1] as MetricFamily])).toThrow(/collected twice/);
    expect(() => encodeText([{ name: 'bad-name', help: '', type: 'gauge', samples: [{ labels: '', value: 1 }] }])).toThrow(/invalid metric name/);
  });

  it('writes histograms as cumulative buckets with le last, then _sum and _count', () => {
    const h = new HistogramSeries([0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 2, 3]) h.observe(v);
    const labels = renderLabels({ m: 'x' });
    const samples: Sample[] = [];
    h.samples(labels, HistogramSeries.bucketLabels(labels, [0.1, 1]), samples);
    expect(encodeText([{ name: 'h_seconds', help: 'H.', type: 'histogram', samples }])).toBe(
      [
        '# HELP h_seconds H.',
        '# TYPE h_seconds histogram',
        'h_seconds_bucket{m="x",le="0.1"} 2',
        'h_seconds_bucket{m="x",le="1"} 3',
        'h_seconds_bucket{m="x",le="+Inf"} 5',
        'h_seconds_sum{m="x"} 5.65',
        'h_seconds_count{m="x"} 5',
        '',
      ].join('\n'),
    );
    expect(HistogramSeries.bucketLabels('', DEFAULT_BUCKETS).map((l) => l.slice(4, -1))).toEqual([
      '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf',
    ]);
  });

  it('is read by promtool without a single finding, hostile label values included', () => {
    const h = new HistogramSeries(DEFAULT_BUCKETS);
    h.observe(0.003);
    h.observe(42);
    const hs: Sample[] = [];
    const hl = renderLabels({ path: '/a"b\\c\nd' });
    h.samples(hl, HistogramSeries.bucketLabels(hl, DEFAULT_BUCKETS), hs);
    const text = encodeText([
      { name: 'demo_requests_total', help: 'Requests with "quotes", back\\slashes\nand lines.', type: 'counter', samples: [{ labels: renderLabels({ v: 'ünï\\"\n' }), value: 7 }] },
      { name: 'demo_temperature_celsius', help: 'Odd values.', type: 'gauge', samples: [{ labels: renderLabels({ k: 'nan' }), value: NaN }, { labels: renderLabels({ k: 'inf' }), value: -Infinity }] },
      { name: 'demo_latency_seconds', help: 'A histogram.', type: 'histogram', samples: hs },
    ]);
    const r = promtoolCheck(text);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
    // And promtool does find a broken line: the check can fail.
    const broken = promtoolCheck('# TYPE x gauge\nx{a="unterminated} 1\n');
    expect(broken.status).not.toBe(0);
  });
});

describe('[metrics] config', () => {
  it('defaults to no endpoint and no histogram, as containerd', () => {
    expect(DEFAULT_CONFIG_TOML).toContain('[metrics]');
    const cfg = loadConfig(undefined, false);
    expect(cfg.metrics).toEqual({ address: '', grpc_histogram: false });
  });

  it('reads address and grpc_histogram and refuses a malformed address or key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-cfg-'));
    try {
      const file = path.join(dir, 'config.toml');
      fs.writeFileSync(file, '[metrics]\naddress = "127.0.0.1:1338"\ngrpc_histogram = true\n');
      expect(loadConfig(file, true).metrics).toEqual({ address: '127.0.0.1:1338', grpc_histogram: true });
      fs.writeFileSync(file, '[metrics]\naddress = "1338"\n');
      expect(() => loadConfig(file, true)).toThrow('metrics.address must be "host:port", got "1338"');
      fs.writeFileSync(file, '[metrics]\ngrpc_histogram = "yes"\n');
      expect(() => loadConfig(file, true)).toThrow('configuration key "metrics.grpc_histogram" must be a boolean, got string');
      fs.writeFileSync(file, '[metrics]\nadress = ""\n');
      expect(() => loadConfig(file, true)).toThrow('unknown configuration key "metrics.adress"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
