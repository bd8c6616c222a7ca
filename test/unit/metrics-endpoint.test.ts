// The HTTP side of berthd's metrics endpoint (src/metrics/endpoint.ts) on loopback: GET and
// HEAD on /v1/metrics, 404 elsewhere and 405 for other methods; scrapes arriving while one
// collects share it (one collection for a burst); a failing collector costs the scrape only
// its own families; promhttp's own counters; process and Node.js families through promtool.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger';
import { MetricsEndpoint } from '../../src/metrics/endpoint';
import type { MetricFamily } from '../../src/metrics/exposition';
import { nodejsFamilies, processFamilies, softLimit, statFields } from '../../src/metrics/process-metrics';
import { promtoolCheck } from '../harness/prometheus';

let ep: MetricsEndpoint | undefined;
afterEach(async () => {
  await ep?.close();
  ep = undefined;
});

function url(p = '/v1/metrics'): string {
  const a = (ep as MetricsEndpoint).address();
  return `http://127.0.0.1:${a.port}${p}`;
}

const gauge = (name: string, value: number): MetricFamily => ({ name, help: `${name}.`, type: 'gauge', samples: [{ labels: '', value }] });

describe('metrics endpoint', () => {
  it('serves /v1/metrics to GET and HEAD, 404 elsewhere, 405 to other methods', async () => {
    ep = await MetricsEndpoint.start({ host: '127.0.0.1', port: 0, collectors: [() => [gauge('demo_value', 7)]], log: silentLogger });
    const r = await fetch(url());
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await r.text()).toContain('# TYPE demo_value gauge\ndemo_value 7\n');
    const withQuery = await fetch(url('/v1/metrics?x=1'));
    expect(withQuery.status).toBe(200);
    await withQuery.text();
    const head = await fetch(url(), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    const nf = await fetch(url('/v1/metricsx'));
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe('404 page not found\n');
    const post = await fetch(url(), { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    await post.text();
  });

  it('collects once for scrapes that arrive together', async () => {
    let collections = 0;
    const slow = async (): Promise<MetricFamily[]> => {
      collections++;
      await new Promise((r) => setTimeout(r, 200));
      return [gauge('demo_collections', collections)];
    };
    ep = await MetricsEndpoint.start({ host: '127.0.0.1', port: 0, collectors: [slow], log: silentLogger });
    const texts = await Promise.all(Array.from({ length: 8 }, () => fetch(url()).then((r) => r.text())));
    expect(collections).toBe(1);
    for (const t of texts) expect(t).toContain('demo_collections 1\n');
    // The next scrape collects again.
    expect(await (await fetch(url())).text()).toContain('demo_collections 2\n');
  });

  it('serves the other collectors when one fails, and counts its own scrapes', async () => {
    ep = await MetricsEndpoint.start({
      host: '127.0.0.1',
      port: 0,
      collectors: [
        () => {
          throw new Error('broken source');
        },
        () => [gauge('demo_ok', 1)],
      ],
      log: silentLogger,
    });
    await (await fetch(url())).text();
    const text = await (await fetch(url())).text();
    expect(text).toContain('demo_ok 1\n');
    // Counted after each answer, so this scrape sees the one before it; in flight: itself.
    expect(text).toContain('promhttp_metric_handler_requests_total{code="200"} 1\n');
    expect(text).toContain('promhttp_metric_handler_requests_total{code="500"} 0\n');
    expect(text).toContain('promhttp_metric_handler_requests_in_flight 1\n');
  });

  it('refuses to start on an address in use', async () => {
    ep = await MetricsEndpoint.start({ host: '127.0.0.1', port: 0, collectors: [], log: silentLogger });
    await expect(MetricsEndpoint.start({ host: '127.0.0.1', port: ep.address().port, collectors: [], log: silentLogger })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('process and Node.js metrics', () => {
  it('reads /proc like the Go collector, and promtool finds nothing to say', () => {
    expect(statFields('123 (a (b) c) S 1 2 3')).toEqual(['S', '1', '2', '3']);
    expect(softLimit('Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 4096                 files     \nMax address space         unlimited            unlimited            bytes     \n', 'Max open files')).toBe(1024);
    expect(softLimit('Max address space         unlimited            unlimited            bytes\n', 'Max address space')).toBe(18446744073709551615);
    const fams = [...processFamilies(), ...nodejsFamilies()];
    const value = (n: string): number | undefined => fams.find((f) => f.name === n)?.samples[0]?.value;
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(value('process_open_fds')).toBeGreaterThan(2);
    expect(value('process_max_fds')).toBeGreaterThanOrEqual(value('process_open_fds') as number);
    expect(value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // Started within the last hour, not in the future (boot time plus the start tick).
    const start = value('process_start_time_seconds') as number;
    expect(start).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(start).toBeGreaterThan(Date.now() / 1000 - 3600);
    expect(value('process_virtual_memory_bytes')).toBeGreaterThan(value('process_resident_memory_bytes') as number);
    expect(value('nodejs_heap_size_used_bytes')).toBeLessThanOrEqual(value('nodejs_heap_size_total_bytes') as number);
    expect(fams.find((f) => f.name === 'nodejs_version_info')?.samples[0]?.labels).toBe(`major="${process.versions.node.split('.')[0]}",minor="${process.versions.node.split('.')[1]}",patch="${process.versions.node.split('.')[2]}",version="${process.version}"`);
  });
});

it('writes process and Node.js families promtool accepts without a finding', async () => {
  ep = await MetricsEndpoint.start({ host: '127.0.0.1', port: 0, collectors: [processFamilies, nodejsFamilies], log: silentLogger });
  const r = promtoolCheck(await (await fetch(url())).text());
  expect(r.findings).toEqual([]);
  expect(r.status).toBe(0);
});
