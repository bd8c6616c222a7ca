// Debian's Prometheus for tests: `promtool check metrics` over a text, and a private
// Prometheus server on loopback (a free port, its own config and TSDB in a temp dir) that
// scrapes given targets, queried through its HTTP API; stopped by PID, its dir removed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { sleep, spawnProcess, stopChild, type SpawnedProcess } from './process';
import { makeTempRoot, type TempRoot } from './tempdir';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

/** promtool's verdict on a metrics text: its exit status (0 clean, 3 lint findings, 1 an
 * error) and the findings it printed, one a line. */
export function promtoolCheck(text: string): { status: number | null; output: string; findings: string[] } {
  const r = spawnSync(PROMTOOL_BIN, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  const output = `${r.stdout}${r.stderr}`;
  return { status: r.status, output, findings: output.split('\n').filter((l) => l.trim() !== '') };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface PrometheusTarget {
  job: string;
  /** "127.0.0.1:<port>" */
  address: string;
  metricsPath: string;
}

/** One sample of an instant vector. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusHandle {
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** An instant query (GET /api/v1/query); throws unless Prometheus answers success. */
  query(expr: string): Promise<PromSample[]>;
  /** Polls `query(expr)` until `accept` takes the result or the time is up (then the last result). */
  waitFor(expr: string, accept: (r: PromSample[]) => boolean, timeoutMs: number): Promise<PromSample[]>;
  /** The targets' health as Prometheus sees them (GET /api/v1/targets). */
  targets(): Promise<Array<{ job: string; health: string; lastError: string }>>;
  /** Stops it by PID and removes its dir. */
  stop(): Promise<void>;
}

/**
 * Starts /usr/bin/prometheus on 127.0.0.1:<free port> with a config scraping `targets`
 * every `intervalSeconds` (timeout the same), TSDB in a temp dir; resolves once /-/ready answers.
 */
export async function startPrometheus(targets: readonly PrometheusTarget[], intervalSeconds = 1): Promise<PrometheusHandle> {
  const tmp: TempRoot = makeTempRoot('prometheus-');
  const config = path.join(tmp.path, 'prometheus.yml');
  const scrapeConfigs = targets
    .map((t) => `  - job_name: ${JSON.stringify(t.job)}\n    metrics_path: ${JSON.stringify(t.metricsPath)}\n    static_configs:\n      - targets: [${JSON.stringify(t.address)}]\n`)
    .join('');
  fs.writeFileSync(config, `global:\n  scrape_interval: ${intervalSeconds}s\n  scrape_timeout: ${intervalSeconds}s\nscrape_configs:\n${scrapeConfigs}`);
  let proc: SpawnedProcess | undefined;
  let url = '';
  // The port can be taken between the probe and Prometheus' bind: a few tries.
  for (let attempt = 0; attempt < 3 && !proc; attempt++) {
    const port = await freeLoopbackPort();
    url = `http://127.0.0.1:${port}`;
    const p = spawnProcess(
      PROMETHEUS_BIN,
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(tmp.path, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { logFile: path.join(tmp.path, 'prometheus.log') },
    );
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && p.exitStatus() === undefined) {
      const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ok) {
        proc = p;
        break;
      }
      await sleep(100);
    }
    if (!proc) await stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 });
  }
  if (!proc) {
    const log = fs.existsSync(path.join(tmp.path, 'prometheus.log')) ? fs.readFileSync(path.join(tmp.path, 'prometheus.log'), 'utf8') : '';
    await tmp.cleanup();
    throw new Error(`prometheus did not become ready:\n${log}`);
  }
  const running = proc;
  const query = async (expr: string): Promise<PromSample[]> => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success' || !body.data) throw new Error(`query ${expr}: ${body.error ?? r.status}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expr}: a ${body.data.resultType}, not a vector`);
    return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  };
  return {
    url,
    pid: running.pid,
    dir: tmp.path,
    query,
    async waitFor(expr, accept, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last = await query(expr);
      while (!accept(last) && Date.now() < deadline) {
        await sleep(250);
        last = await query(expr);
      }
      return last;
    },
    async targets() {
      const r = (await (await fetch(`${url}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> } };
      return r.data.activeTargets.map((t) => ({ job: t.labels['job'] ?? '', health: t.health, lastError: t.lastError }));
    },
    async stop() {
      await stopChild(running, { signal: 'SIGTERM', timeoutMs: 10_000 });
      await tmp.cleanup();
    },
  };
}
