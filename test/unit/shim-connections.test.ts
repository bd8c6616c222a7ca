// ShimConnectionPool: tasks of berth's shared shim lease one ttrpc connection. Against a
// real TtrpcServer on a temp socket that counts its connections and answers State with the
// namespace each call carried.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TtrpcClosedError, TtrpcServer, type CallContext } from '../../src/ttrpc';
import { ShimConnectionPool } from '../../src/runtime/shim-connections';
import { TASK_SERVICE } from '../../src/runtime/shim-client';

let dir: string;
let addr: string;
/** As a shim's `start` prints it. */
const address = (): string => `unix://${addr}`;
let server: TtrpcServer;
let opened: net.Socket[];
let pool: ShimConnectionPool;

async function listen(): Promise<TtrpcServer> {
  const s = new TtrpcServer({
    peerCheck: async (socket) => {
      opened.push(socket);
      return undefined;
    },
  });
  s.register(TASK_SERVICE, {
    State: (req: { id: string }, ctx: CallContext) => ({ id: req.id, bundle: ctx.namespace ?? '' }),
  });
  await s.listen(addr, { removeStale: true });
  return s;
}

const open = (): number => opened.filter((s) => !s.destroyed).length;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-conns-'));
  addr = path.join(dir, 's.sock');
  opened = [];
  server = await listen();
  pool = new ShimConnectionPool();
});

afterEach(async () => {
  pool.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ShimConnectionPool', () => {
  it('tasks share one connection, each call with its own namespace', async () => {
    const a = await pool.lease(address(), 'ns-a', 1000);
    const b = await pool.lease(address(), 'ns-b', 1000);
    expect((await a.state('c1', '')).bundle).toBe('ns-a');
    expect((await b.state('c2', '')).bundle).toBe('ns-b');
    expect(opened).toHaveLength(1);
  });

  it('a lease that ends is closed for its task only; the connection stays for the next', async () => {
    const a = await pool.lease(address(), 'ns', 1000);
    const b = await pool.lease(address(), 'ns', 1000);
    const aClosed = a.waitClosed();
    a.close();
    await aClosed;
    expect(a.closed).toBe(true);
    await expect(a.state('c', '')).rejects.toBeInstanceOf(TtrpcClosedError);
    expect((await b.state('c', '')).id).toBe('c');
    b.close();
    await settle();
    expect(open()).toBe(1); // idle, kept for the next task
    const c = await pool.lease(address(), 'ns', 1000);
    expect((await c.state('x', '')).id).toBe('x');
    expect(opened).toHaveLength(1);
  });

  it('when the shim goes away every lease sees its connection close; the next lease dials again', async () => {
    const a = await pool.lease(address(), 'ns', 1000);
    const b = await pool.lease(address(), 'ns', 1000);
    await server.close();
    await Promise.all([a.waitClosed(), b.waitClosed()]);
    await expect(b.state('c', '')).rejects.toBeInstanceOf(TtrpcClosedError);
    server = await listen();
    const c = await pool.lease(address(), 'ns', 1000);
    expect((await c.state('c', '')).id).toBe('c');
    expect(opened).toHaveLength(2);
  });

  it('fresh dials a new connection; the old one closes with its last lease', async () => {
    const old = await pool.lease(address(), 'ns', 1000);
    const next = await pool.lease(address(), 'ns', 1000, true);
    expect(opened).toHaveLength(2);
    expect((await old.state('o', '')).id).toBe('o');
    expect((await next.state('n', '')).id).toBe('n');
    old.close();
    await settle();
    expect(open()).toBe(1);
    expect((await next.state('n', '')).id).toBe('n');
  });

  it('close() closes the connections: leases see it, new leases are refused', async () => {
    const a = await pool.lease(address(), 'ns', 1000);
    pool.close();
    await a.waitClosed();
    await expect(pool.lease(address(), 'ns', 1000)).rejects.toThrow(/closed/);
  });
});
