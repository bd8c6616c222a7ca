// berthd's Prometheus endpoint: containerd's [metrics] address, plain HTTP on TCP, serving
// the text format on GET /v1/metrics (everything else 404, as containerd's mux answers).
//
// Collection happens per scrape. Scrapes that arrive while one is collecting share its
// result, so a burst of scrapers costs one round of shim calls; the response is gzipped
// when the scraper accepts it (Prometheus does), off the event loop in zlib's thread.
// Like promhttp's handler, it counts its own scrapes by status code and those in flight.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from '../log/logger';
import { EXPOSITION_CONTENT_TYPE, encodeTextYielding, type MetricFamily } from './exposition';

export const METRICS_PATH = '/v1/metrics';

const gzipAsync = promisify(gzip);

/** Something that adds families to a scrape. */
export type Collector = () => MetricFamily[] | Promise<MetricFamily[]>;

export interface MetricsEndpointOptions {
  host: string;
  port: number;
  collectors: readonly Collector[];
  log: Logger;
}

/** Connections a scraper or two need; more are refused rather than held. */
const MAX_CONNECTIONS = 64;

export class MetricsEndpoint {
  private collecting: Promise<string> | undefined;
  private inFlight = 0;
  /** promhttp pre-registers these three codes. */
  private readonly byCode = new Map<string, number>([
    ['200', 0],
    ['500', 0],
    ['503', 0],
  ]);

  private constructor(
    private readonly server: http.Server,
    private readonly opts: MetricsEndpointOptions,
  ) {}

  /** Binds host:port (port 0 picks one) and serves; rejects if the address cannot be bound. */
  static async start(opts: MetricsEndpointOptions): Promise<MetricsEndpoint> {
    const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 30_000 });
    server.maxConnections = MAX_CONNECTIONS;
    const ep = new MetricsEndpoint(server, opts);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => ep.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.off('error', reject);
        server.on('error', (err) => opts.log.warn('metrics endpoint error', { error: err }));
        resolve();
      });
    });
    return ep;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The whole text of one scrape (the endpoint's own counters included). */
  scrape(): Promise<string> {
    this.collecting ??= this.collect().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async collect(): Promise<string> {
    const t0 = performance.now();
    const ms: number[] = [];
    const parts = await Promise.all(
      this.opts.collectors.map(async (c, i) => {
        try {
          return await c();
        } catch (err) {
          // One failing source must not cost the scrape the others.
          this.opts.log.warn('metrics: a collector failed', { error: err as Error });
          return [];
        } finally {
          ms[i] = Math.round((performance.now() - t0) * 10) / 10;
        }
      }),
    );
    const text = await encodeTextYielding([...parts.flat(), ...this.ownFamilies()]);
    if (this.opts.log.enabled('debug')) this.opts.log.debug('metrics collected', { collectorsMs: ms, totalMs: Math.round((performance.now() - t0) * 10) / 10, bytes: text.length });
    return text;
  }

  private ownFamilies(): MetricFamily[] {
    return [
      { name: 'promhttp_metric_handler_requests_in_flight', help: 'Current number of scrapes being served.', type: 'gauge', samples: [{ labels: '', value: this.inFlight }] },
      {
        name: 'promhttp_metric_handler_requests_total',
        help: 'Total number of scrapes by HTTP status code.',
        type: 'counter',
        samples: [...this.byCode].map(([code, n]) => ({ labels: `code="${code}"`, value: n })),
      },
    ];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end('404 page not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const wantsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    this.inFlight++;
    void this.scrape()
      .then(async (text) => {
        const headers: http.OutgoingHttpHeaders = { 'content-type': EXPOSITION_CONTENT_TYPE };
        let body: Buffer = Buffer.from(text, 'utf8');
        if (wantsGzip) {
          body = await gzipAsync(body);
          headers['content-encoding'] = 'gzip';
        }
        headers['content-length'] = body.length;
        this.count('200');
        res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
      })
      .catch((err: unknown) => {
        this.opts.log.warn('metrics: scrape failed', { error: err as Error });
        this.count('500');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`An error has occurred while serving metrics:\n\n${(err as Error).message}\n`);
      })
      .finally(() => this.inFlight--);
  }

  private count(code: string): void {
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
  }
}
