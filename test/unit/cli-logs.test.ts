// `berth logs`' pieces: berth-log (the binary:// logging program, run here as a shim runs
// it: stdout on fd 3, stderr on fd 4, readiness on fd 5) and the printer that turns its
// records back into the container's output. The shims driving it: test/e2e/cli-observability.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LOGGER_PATH } from '../../src/cli/log-files';
import { LogPrinter, parseRecord } from '../../src/cli/log-records';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-logs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$/;

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

describe.skipIf(!fs.existsSync(LOGGER_PATH))('berth-log', () => {
  /** Starts berth-log on a file; resolves once it said it is ready (closed fd 5). */
  async function start(file: string) {
    const p = spawn(LOGGER_PATH, ['file', file], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    const [out, err, ready] = [p.stdio[3] as Writable, p.stdio[4] as Writable, p.stdio[5] as Readable];
    await new Promise<void>((resolve) => {
      ready.resume();
      ready.once('end', resolve);
      ready.once('close', resolve);
    });
    const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
    return { p, out, err, exited };
  }

  it('one record per line with its stream; what follows the last newline of a read at once, as P', async () => {
    const file = path.join(dir, 'a.log');
    const l = await start(file);
    l.out.write('one\ntwo\npart');
    await new Promise((r) => setTimeout(r, 100));
    l.err.write('oops\n');
    await new Promise((r) => setTimeout(r, 100));
    l.out.write('ial\n');
    l.out.end();
    l.err.end();
    expect(await l.exited).toBe(0);
    const recs = fs.readFileSync(file, 'utf8').trimEnd().split('\n').map((r) => RECORD.exec(r)?.slice(1));
    expect(recs).toEqual([
      ['stdout', 'F', 'one'],
      ['stdout', 'F', 'two'],
      ['stdout', 'P', 'part'],
      ['stderr', 'F', 'oops'],
      ['stdout', 'F', 'ial'],
    ]);
  });

  it('appends; SIGTERM (a shim stopping it) ends it after what was written', async () => {
    const file = path.join(dir, 'b.log');
    fs.writeFileSync(file, '');
    const l = await start(file);
    l.out.write('kept\n');
    await new Promise((r) => setTimeout(r, 100));
    l.p.kill('SIGTERM');
    expect(await l.exited).toBe(0);
    expect(RECORD.exec(fs.readFileSync(file, 'utf8').trimEnd())?.slice(1)).toEqual(['stdout', 'F', 'kept']);
    l.out.destroy();
    l.err.destroy();
  });

  it('refuses to start without a file', async () => {
    const p = spawn(LOGGER_PATH, [], { stdio: 'ignore' });
    expect(await new Promise((resolve) => p.once('exit', resolve))).toBe(2);
  });
});

describe('log records', () => {
  it('parse', () => {
    expect(parseRecord(Buffer.from('2026-01-02T03:04:05.000000001Z stderr F a b '))).toEqual({ time: '2026-01-02T03:04:05.000000001Z', stream: 'stderr', partial: false, content: Buffer.from('a b ') });
    expect(parseRecord(Buffer.from('2026-01-02T03:04:05.000000001Z stdout P'))?.content.length).toBe(0);
    for (const bad of ['', 'x', 't stdin F a', 't stdout X a', 't stdout Fa']) expect(parseRecord(Buffer.from(bad))).toBeUndefined();
  });

  it('print each stream to its own sink, records cut across chunks, pieces joined, times at line starts', () => {
    const text = [
      '2026-01-02T03:04:05.000000001Z stdout F one',
      '2026-01-02T03:04:05.000000002Z stdout P pa',
      '2026-01-02T03:04:05.000000003Z stderr F err',
      '2026-01-02T03:04:05.000000004Z stdout F rt',
      '2026-01-02T03:04:05.000000005Z stdout P tail',
      '',
    ].join('\n');
    for (const timestamps of [false, true]) {
      const out = collect();
      const err = collect();
      const printer = new LogPrinter({ stdout: out.stream, stderr: err.stream }, timestamps);
      const bytes = Buffer.from(text);
      for (let i = 0; i < bytes.length; i += 7) printer.write(bytes.subarray(i, i + 7));
      if (timestamps) {
        expect(out.text()).toBe('2026-01-02T03:04:05.000000001Z one\n2026-01-02T03:04:05.000000002Z part\n2026-01-02T03:04:05.000000005Z tail');
        expect(err.text()).toBe('2026-01-02T03:04:05.000000003Z err\n');
      } else {
        expect(out.text()).toBe('one\npart\ntail');
        expect(err.text()).toBe('err\n');
      }
    }
  });
});
