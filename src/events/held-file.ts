import * as fs from 'node:fs';
import type { Envelope } from './envelope';

/**
 * Where the exchange keeps the events it holds for the clients after a restart (see
 * Exchange.holdForwards). A held event has been acknowledged to its shim, which then
 * forgets it: kept only in memory, a second restart inside the hold would lose it (before
 * the hold acknowledged them, a refused shim kept its events, but each shim's queue then
 * waited behind its first event, and berthd's own consumers with it).
 */
export interface HeldEventsStore {
  /** The events a previous berthd held and did not hand out, oldest first. */
  load(): Envelope[];
  /** Keeps one more; throws if it cannot (the forward is then refused and the shim retries). */
  append(env: Envelope): void;
  /** The held events have been handed out. */
  clear(): void;
}

interface HeldLine {
  s: number;
  n: number;
  ns: string;
  t: string;
  u: string;
  v: string;
}

/** One JSON line per event, appended and fsynced before the shim is answered; a torn last
 * line (a crash in the middle of a write) is skipped. In berthd's state directory: shims,
 * and so their events, do not outlive a reboot either. */
export class HeldEventsFile implements HeldEventsStore {
  constructor(readonly path: string) {}

  load(): Envelope[] {
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: Envelope[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const h = JSON.parse(line) as HeldLine;
        out.push({ timestamp: { seconds: h.s, nanos: h.n }, namespace: h.ns, topic: h.t, event: { typeUrl: h.u, value: Buffer.from(h.v, 'base64') } });
      } catch {
        // torn by a crash while it was written: that event was not acknowledged either
      }
    }
    return out;
  }

  append(env: Envelope): void {
    const line: HeldLine = {
      s: env.timestamp.seconds,
      n: env.timestamp.nanos,
      ns: env.namespace,
      t: env.topic,
      u: env.event.typeUrl,
      v: Buffer.from(env.event.value).toString('base64'),
    };
    const fd = fs.openSync(this.path, 'a', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(line)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  clear(): void {
    fs.rmSync(this.path, { force: true });
  }
}
