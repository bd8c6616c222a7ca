import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrOk, startBerthd, type BerthdHandle } from '../harness';

// The berth CLI against a private berthd: tables for people, --json for scripts.

const BERTH = join(__dirname, '..', '..', 'bin', 'berth');
let d: BerthdHandle;

function berth(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BERTH, '-a', d.address, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  d = await startBerthd();
  await ctrOk(d.address, ['namespaces', 'create', 'cli-ns', 'team=berth']);
  await ctrOk(d.address, ['leases', 'create', '--id', 'cli-lease'], { namespace: 'cli-ns' });
});
afterAll(async () => {
  await d?.cleanup();
});

describe('berth CLI', () => {
  it('prints tables and JSON', () => {
    const table = berth('namespaces', 'ls');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+LABELS\ncli-ns\s+team=berth\n$/);
    const json = berth('--json', 'namespaces', 'ls');
    expect(JSON.parse(json.stdout)).toEqual([{ name: 'cli-ns', labels: { team: 'berth' } }]);
    const leases = berth('-n', 'cli-ns', '--json', 'leases', 'ls');
    expect((JSON.parse(leases.stdout) as Array<{ id: string }>).map((l) => l.id)).toEqual(['cli-lease']);
    expect(berth('-n', 'cli-ns', 'containers', 'ls').stdout).toMatch(/^CONTAINER\s+IMAGE\s+RUNTIME\n$/);
    expect(berth('plugins', 'ls').stdout).toMatch(/io\.containerd\.grpc\.v1\s+namespaces\s+ok/);
    expect(berth('version').stdout).toMatch(/Version:\s+\d+\.\d+\.\d+/);
  });

  it('reports errors and unknown commands', () => {
    const bad = berth('-n', 'cli-ns', 'leases', 'ls', 'id==');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('berth: filters: parse error');
    const unknown = berth('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});
