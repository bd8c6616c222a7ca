// `berth stats [ID…] [--no-stream]`: the running tasks' CPU, memory and pids like `docker
// stats`. Each interval takes one Tasks.List and one Tasks.Metrics (all tasks asked at
// once) and shows each task's use since the previous sample. On a terminal the table is
// redrawn in place; otherwise one table (or, with --json, one JSON line per task) is
// printed per interval. Ctrl-C ends it with exit 0.
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import type { CliContext } from '../context';
import { STATS_HEADER, sampleOf, statsCells, statsRow, type StatsRow, type StatsSample } from '../container-stats';
import { renderTable } from '../table';

const USAGE = `usage: berth stats [--no-stream] [ID…]   live CPU %, memory and pids of running tasks
  --no-stream   print one table (two samples, one interval apart) and exit
  --interval S  seconds between samples (default 1)
`;

const CLEAR_SCREEN = '\x1b[2J';
const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

async function sample(ctx: CliContext, ids: readonly string[], signal: AbortSignal): Promise<Map<string, StatsSample>> {
  const running = new Set((await ctx.client.tasks('', { signal })).filter((t) => t.status === 'RUNNING').map((t) => t.id));
  const wanted = ids.length > 0 ? ids.filter((id) => running.has(id)) : [...running].sort();
  const out = new Map<string, StatsSample>();
  if (wanted.length === 0) return out;
  const metrics = await ctx.client.taskMetrics(wanted.map((id) => `id==${id}`), { signal });
  const local = Number(process.hrtime.bigint());
  const byId = new Map(metrics.map((m) => [m.id, m]));
  for (const id of wanted) {
    const m = byId.get(id);
    const s = m && sampleOf(m, os.totalmem(), local);
    if (s) out.set(id, s);
  }
  return out;
}

export const statsCommand: Command = {
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals: ids } = parseFlags(args, { 'no-stream': { type: 'boolean' }, interval: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, USAGE);
    if (values.help) {
      ctx.stdout.write(USAGE);
      return 0;
    }
    const intervalMs = values.interval !== undefined ? Number(values.interval) * 1000 : 1000;
    if (!Number.isFinite(intervalMs) || intervalMs < 100) throw new UsageError(`invalid --interval "${values.interval}"`, USAGE);
    const tty = ctx.stdout.isTTY === true && !ctx.json;
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      let prev = await sample(ctx, ids, ac.signal);
      const missing = ids.filter((id) => !prev.has(id));
      if (missing.length > 0) throw new Error(`no running task: ${missing.join(', ')}`);
      let first = true;
      for (;;) {
        await sleep(intervalMs, undefined, { signal: ac.signal });
        const cur = await sample(ctx, ids, ac.signal);
        const rows: StatsRow[] = [...cur.values()].map((s) => statsRow(s, prev.get(s.id)));
        if (ctx.json) {
          const at = new Date().toISOString();
          for (const r of rows) ctx.jsonLine({ timestamp: at, ...r });
        } else {
          const table = renderTable(STATS_HEADER, rows.map(statsCells), tty ? ctx.stdout.columns : undefined);
          if (tty) {
            // Redraw in place: home, each line cleared to its end, the rest of the screen cleared.
            ctx.stdout.write(`${first ? CLEAR_SCREEN : ''}${HOME}${table.replace(/\n/g, `${CLEAR_LINE_END}\n`)}${CLEAR_BELOW}`);
          } else {
            ctx.stdout.write(table);
          }
        }
        first = false;
        if (values['no-stream']) return 0;
        prev = cur;
      }
    } catch (err) {
      if (ac.signal.aborted) return 0;
      throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
