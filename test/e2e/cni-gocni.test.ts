// Side by side with containerd's go-cni (v1.1.6, what containerd 1.6.20's CRI uses, called
// as that CRI calls it: test/go/gocni) and berth's src/cni, over the same recording fake
// plugins (test/unit/cni-fake-plugin.ts): every plugin must receive the same CNI_*
// environment and the same config on stdin (name, cniVersion, prevResult, runtimeConfig),
// in the same order, and both must pick the same pod IP.
//
// Differences that are deliberate, normalised here and nowhere else:
// - go-cni marshals capability values from Go structs without JSON tags ("HostPort",
//   "IngressRate", "Servers"); berth writes the CNI conventions' names ("hostPort",
//   "ingressRate", "servers"). Go plugins read both (encoding/json matches names without case).
// - CNI_ARGS: go-cni joins a Go map, in random order; berth in a fixed order.
// - prevResult: libcni re-marshals it from its types ("dns": {} added, Go's key order);
//   berth passes the plugin's own JSON.
// - go-cni ADDs the networks in parallel; berth in turn (compared per network here).
// libcni keeps its result cache in /var/lib/cni: go-cni runs in a private mount namespace
// with a tmpfs there.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniManager, selectPodIPs, type PodNetworkRequest } from '../../src/cni';
import { createNetNS, type NetNS } from '../../src/netns';
import { buildGoProgram, makeTempRoot, runGoProgram, type TempRoot } from '../harness';
import { FakePlugins } from '../unit/cni-fake-plugin';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

const RESULT = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:05', sandbox: '/pod' }],
  ips: [{ address: 'fd00::5/64', interface: 0 }, { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0' }],
};
const LO_RESULT = { cniVersion: '0.3.1', interfaces: [{ name: 'lo', sandbox: '/pod' }], ips: [{ version: '4', address: '127.0.0.1/8', interface: 0 }] };

/** What test/go/gocni passes (containerd's CRI builds the same from a pod config). */
function request(netnsPath: string): PodNetworkRequest {
  return {
    pod: { namespace: 'ns1', name: 'web', uid: 'uid-1', sandboxId: 'sb-gocni-1' },
    netnsPath,
    capabilityArgs: {
      podAnnotations: { team: 'a' },
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }],
      bandwidth: { ingressRate: 1000, ingressBurst: 10, egressRate: 2000, egressBurst: 20 },
      dns: { servers: ['10.0.0.10'], searches: ['svc.local'], options: ['ndots:5'] },
    },
  };
}

function lowerFirst(k: string): string {
  return k.charAt(0).toLowerCase() + k.slice(1);
}

/** go-cni's untagged struct fields ("HostPort") → the conventions' names ("hostPort"). */
function lowerKeys(v: Json): Json {
  if (Array.isArray(v)) return v.map(lowerKeys);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [lowerFirst(k), lowerKeys(x)]));
  return v;
}

function normaliseStdin(conf: Record<string, unknown>, side: 'go' | 'berth'): Record<string, unknown> {
  const out = { ...conf } as Record<string, Json>;
  const prev = out['prevResult'];
  if (prev && typeof prev === 'object' && !Array.isArray(prev)) {
    const p = { ...prev };
    const dns = p['dns'];
    if (dns && typeof dns === 'object' && Object.keys(dns).length === 0) delete p['dns'];
    out['prevResult'] = p;
  }
  const rc = out['runtimeConfig'];
  if (side === 'go' && rc && typeof rc === 'object' && !Array.isArray(rc)) {
    out['runtimeConfig'] = Object.fromEntries(
      Object.entries(rc).map(([cap, v]) => [cap, cap.startsWith('io.kubernetes.') ? v : lowerKeys(v)]),
    );
  }
  return out;
}

function normaliseEnv(env: Record<string, string>, pluginDir: string): Record<string, string> {
  return {
    ...env,
    CNI_ARGS: (env['CNI_ARGS'] ?? '').split(';').sort().join(';'),
    CNI_PATH: env['CNI_PATH'] === pluginDir ? '<plugin dir>' : env['CNI_PATH'] ?? '',
  };
}

describe('CNI side by side with containerd go-cni v1.1.6', () => {
  let root: TempRoot;
  let netns: NetNS;
  let gocni: string;

  beforeAll(async () => {
    root = makeTempRoot('berth-cni-gocni-');
    netns = await createNetNS(join(root.path, 'netns'));
    gocni = await buildGoProgram('gocni');
  }, 600_000);
  afterAll(async () => {
    await netns?.remove();
    await root?.cleanup();
  });

  const cases: { name: string; file: string; conf: unknown; plugins: string[] }[] = [
    {
      name: 'a .conflist of two plugins with capabilities',
      file: '10-net.conflist',
      conf: {
        cniVersion: '1.0.0',
        name: 'net1',
        plugins: [
          { type: 'fa', capabilities: { portMappings: true, bandwidth: true, dns: true, 'io.kubernetes.cri.pod-annotations': true } },
          { type: 'fb', mtu: 1400, capabilities: { portMappings: true, bandwidth: false } },
        ],
      },
      plugins: ['fa', 'fb'],
    },
    {
      name: 'a single-plugin .conf',
      file: '10-net.conf',
      conf: { cniVersion: '0.4.0', name: 'single', type: 'fa', ipam: { type: 'host-local' }, capabilities: { dns: true } },
      plugins: ['fa'],
    },
  ];

  for (const c of cases) {
    it(`every plugin gets the same environment and config from both: ${c.name}`, async () => {
      const dir = join(root.path, c.file);
      const confDir = join(dir, 'net.d');
      mkdirSync(confDir, { recursive: true });
      writeFileSync(join(confDir, c.file), JSON.stringify(c.conf));
      const sides = { go: new FakePlugins(join(dir, 'go')), berth: new FakePlugins(join(dir, 'berth')) };
      for (const f of Object.values(sides)) {
        f.add('loopback', { result: LO_RESULT });
        for (const p of c.plugins) f.add(p, { result: RESULT });
      }

      const req = request(netns.path);
      const go = await runGoProgram(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /var/lib && exec "$0" "$@"',
          gocni, '-conf-dir', confDir, '-bin-dir', sides.go.dir, '-netns', netns.path, '-id', req.pod.sandboxId],
        { timeoutMs: 30_000 },
      );
      expect(go.code, go.stdout + go.stderr).toBe(0);

      const mgr = new CniManager({ confDir, binDirs: [sides.berth.dir], cacheDir: join(dir, 'cache') });
      const result = await mgr.setup(req);
      await mgr.teardown(req);

      // The same pod IP: containerd's selectPodIPs prefers IPv4; go-cni lists eth0's IPs in result order.
      expect(go.lines[0]).toEqual({ ip: 'fd00::5', additionalIps: ['10.1.0.5'] });
      expect(selectPodIPs(result, 'eth0', 'cni')).toEqual({ ip: 'fd00::5', additionalIps: ['10.1.0.5'] });

      // The same calls: ADDs in list order within each network, then every DEL in go-cni's order.
      const goCalls = sides.go.calls();
      const berthCalls = sides.berth.calls();
      const adds = (calls: string[]): string[] => calls.filter((l) => l.endsWith(' ADD') && !l.startsWith('loopback'));
      expect(adds(berthCalls)).toEqual(adds(goCalls));
      expect(berthCalls.filter((l) => l.startsWith('loopback ADD'))).toEqual(goCalls.filter((l) => l.startsWith('loopback ADD')));
      expect(berthCalls.filter((l) => l.endsWith(' DEL'))).toEqual(goCalls.filter((l) => l.endsWith(' DEL')));
      expect(berthCalls.length).toBe(goCalls.length);

      for (const plugin of ['loopback', ...c.plugins]) {
        for (const cmd of ['ADD', 'DEL']) {
          const what = `${plugin} ${cmd}`;
          expect(normaliseEnv(sides.berth.env(plugin, cmd), sides.berth.dir), what).toEqual(normaliseEnv(sides.go.env(plugin, cmd), sides.go.dir));
          expect(normaliseStdin(sides.berth.stdin(plugin, cmd), 'berth'), what).toEqual(normaliseStdin(sides.go.stdin(plugin, cmd), 'go'));
        }
      }
    });
  }
});
