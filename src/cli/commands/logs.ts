// `berth logs [-f] [--tail N] [-t] ID`: the output of a container started with `berth run
// -d`, from the log file its logger appends to (log-files.ts, log-records.ts). -f follows
// the file until the task exits (or Ctrl-C), as `docker logs -f` does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags, type Command } from '../command';
import { UsageError } from '../cli-error';
import { NotFoundError } from '../../errdefs/errors';
import { logFileOf } from '../log-files';
import { LogPrinter } from '../log-records';

const USAGE = `usage: berth logs [-f] [--tail N] [-t] ID   output of a container run with berth run -d
  -f, --follow       keep printing new output until the task exits
  --tail N           only the last N lines (default: all)
  -t, --timestamps   each line after the time it was written (RFC 3339, nanoseconds)
`;

const CHUNK = 64 * 1024;
/** How often a followed file is checked besides inotify's word (a missed event costs this much delay at most). */
const POLL_MS = 250;

/** The offset where the last `lines` lines of the file start (a final line without its
 * newline counts as a line), read backwards a chunk at a time. The file's lines are log
 * records: a line of output berth-log read in pieces counts as several. */
export function tailOffset(fd: number, size: number, lines: number): number {
  if (lines <= 0) return size;
  const buf = Buffer.alloc(CHUNK);
  let end = size;
  let seen = 0;
  // A newline that ends the file closes the last line rather than starting another.
  let skipLast = true;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const n = fs.readSync(fd, buf, 0, end - start, start);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      if (++seen === lines) return start + i + 1;
    }
    end = start;
  }
  return 0;
}

/** Prints the file from `offset` to its current end; returns the new offset. */
function copyFrom(fd: number, offset: number, out: LogPrinter): number {
  const buf = Buffer.alloc(CHUNK);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, CHUNK, offset);
    if (n === 0) return offset;
    out.write(Buffer.from(buf.subarray(0, n)));
    offset += n;
  }
}

export const logsCommand: Command = {
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' }, timestamps: { type: 'boolean', short: 't' }, help: { type: 'boolean', short: 'h' } }, USAGE);
    if (values.help) {
      ctx.stdout.write(USAGE);
      return 0;
    }
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('one container id required', USAGE);
    const tail = values.tail === undefined || values.tail === 'all' ? -1 : Number(values.tail);
    if (!Number.isInteger(tail) || tail < -1) throw new UsageError(`invalid --tail "${values.tail}"`, USAGE);
    const container = await ctx.client.loadContainer(id);
    const file = logFileOf((await container.info()).labels);
    if (!file) throw new Error(`container ${id} has no log file (only containers started with "berth run -d" have one)`);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      // The shim makes the file when the task is created: none means no output yet.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!values.follow) return 0;
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o644);
    }
    const printer = new LogPrinter({ stdout: ctx.stdout, stderr: ctx.stderr }, values.timestamps === true);
    try {
      const size = fs.fstatSync(fd).size;
      let offset = tail >= 0 ? tailOffset(fd, size, tail) : 0;
      offset = copyFrom(fd, offset, printer);
      if (!values.follow) return 0;
      let task;
      try {
        task = await container.task();
      } catch (err) {
        if (err instanceof NotFoundError) return 0; // no task: nothing more will be written
        throw err;
      }
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const watcher = fs.watch(file, { persistent: false });
      watcher.on('error', () => undefined);
      try {
        const exited = task.wait({ signal: ac.signal }).then(
          () => true,
          (err: unknown) => {
            if (ac.signal.aborted) return false;
            throw err;
          },
        );
        let done = false;
        void exited.finally(() => (done = true)).catch(() => undefined);
        while (!done && !ac.signal.aborted) {
          await new Promise<void>((resolve) => {
            // Every way out removes the others' listeners: one left per poll added up to
            // Node's MaxListenersExceededWarning on stderr after 11 polls.
            const wake = (): void => {
              clearTimeout(timer);
              watcher.off('change', wake);
              ac.signal.removeEventListener('abort', wake);
              resolve();
            };
            const timer = setTimeout(wake, POLL_MS);
            watcher.once('change', wake);
            void exited.finally(wake).catch(() => undefined);
            ac.signal.addEventListener('abort', wake, { once: true });
          });
          offset = copyFrom(fd, offset, printer);
        }
        if (ac.signal.aborted) return 0;
        await exited;
        // A shim may report the exit while its copy of the last output is still on its way
        // to the file (the process's pipes are drained after it is reaped): read until the
        // file has stopped growing for a few polls, bounded.
        for (let quiet = 0, i = 0; quiet < 3 && i < 20 && !ac.signal.aborted; i++) {
          await sleep(50);
          const next = copyFrom(fd, offset, printer);
          quiet = next === offset ? quiet + 1 : 0;
          offset = next;
        }
        return 0;
      } finally {
        watcher.close();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    } finally {
      fs.closeSync(fd);
    }
  },
};
