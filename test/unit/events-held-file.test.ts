// The events held for the clients after a restart survive another restart
// (src/events/held-file.ts with the exchange): acknowledged to the shim only once on disk.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Exchange } from '../../src/events/exchange';
import type { Envelope } from '../../src/events/envelope';
import { HeldEventsFile } from '../../src/events/held-file';
import { parseFilters } from '../../src/filters/parser';
import { packAny, unpackAny } from '../../src/proto/any';
import { UnavailableError } from '../../src/errdefs/errors';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'held-'));
  dirs.push(d);
  return path.join(d, 'events-held.jsonl');
}

const exit = (pid: number): Parameters<Exchange['forward']>[0] => ({
  timestamp: { seconds: 1_700_000_000, nanos: pid },
  namespace: 'moby',
  topic: '/tasks/exit',
  event: packAny('containerd.events.TaskExit', { container_id: `c${pid}`, pid, exit_status: 137 }),
});

async function all(sub: AsyncIterable<Envelope>): Promise<Envelope[]> {
  const got: Envelope[] = [];
  for await (const e of sub) got.push(e);
  return got;
}

describe('HeldEventsFile', () => {
  it('gives the clients of the next berthd what one held and did not hand out, then forgets it', async () => {
    const file = tempFile();
    const first = new Exchange(unpackAny, new HeldEventsFile(file));
    first.holdForwards();
    first.releaseForwards(60_000);
    first.forward(exit(1));
    first.forward(exit(2));
    first.shutdown(); // berthd stops (or is killed) before a client came back

    const second = new Exchange(unpackAny, new HeldEventsFile(file));
    second.holdForwards();
    expect(second.heldCount).toBe(2);
    second.forward(exit(3));
    const client = second.subscribe(parseFilters([]));
    client.close();
    expect((await all(client)).map((e) => e.timestamp.nanos)).toEqual([1, 2, 3]);
    expect(fs.existsSync(file)).toBe(false);

    // A third start has nothing left to give.
    const third = new Exchange(unpackAny, new HeldEventsFile(file));
    third.holdForwards();
    expect(third.heldCount).toBe(0);
  });

  it('skips a line torn by a crash, and keeps the event bytes exact', () => {
    const file = tempFile();
    const store = new HeldEventsFile(file);
    const ex = new Exchange(unpackAny, store);
    ex.holdForwards();
    ex.forward(exit(7));
    fs.appendFileSync(file, '{"s":1700000000,"n":8,"ns":"mo');
    const loaded = new HeldEventsFile(file).load();
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.event.value.equals(exit(7).event!.value)).toBe(true);
    expect(loaded[0]?.event.typeUrl).toBe(exit(7).event!.typeUrl);
  });

  it('refuses the forward (the shim keeps the event) when it cannot be written, and gives it to nobody yet', async () => {
    const file = path.join(tempFile(), 'no-such-dir', 'events-held.jsonl');
    const ex = new Exchange(unpackAny, new HeldEventsFile(file));
    const internal = ex.subscribe(parseFilters([]), { internal: true });
    ex.holdForwards();
    expect(() => ex.forward(exit(1))).toThrow(UnavailableError);
    expect(ex.heldCount).toBe(0);
    internal.close();
    expect(await all(internal)).toEqual([]);
  });
});
