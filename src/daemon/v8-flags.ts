// berthd's V8 flags, whoever starts it (systemd, install.sh, `node bin/berthd`, tests).
//
// V8 sizes the young generation at start-up, and later flag changes are ignored. With
// its default (semi-spaces of up to 16 MiB) berthd's start-up — loading grpc-js and
// the protocol descriptors — grows the young generation to its maximum and it stays
// there: ~14 MiB of a daemon's ~100 MiB that does nothing after start-up. A daemon
// answers small requests; a 2 MiB semi-space costs it nothing measurable.
//
// --always-sparkplug compiles each function to baseline machine code on first use
// instead of interpreting it until it is hot: a daemon's request paths run a few times per
// client command, so without it the first hundreds of commands run mostly interpreted
// (ctr run --rm: ~0.92 -> ~0.85 of containerd's time in bench/run.ts; +3 MB RSS).
//
// --heap-growing-percent=300: the old generation may grow to 4× what the last mark-compact
// kept before the next one. V8 counts Buffers' external memory against that limit, so a
// small factor turns bulk data into mark-compact storms: with 10% (chosen for RSS in issue
// 12), every ~10 MB of Buffers that a content ingest read and joined started one, 15–23
// of 15–25 ms each per 157 MB pull, while the heap stayed at ~21 MB; V8's own dynamic
// factor falls back to small after the first collection too. With 300: 0–1 per pull, and
// berthd's CPU per pull 1.2–1.4 s -> 0.7–0.8 s (bench/cli-pull.ts). Young Buffers are still
// freed by scavenges, so what this costs is old-generation garbage waiting longer: memory
// per container (bench/run.ts, 7.8 MB) and per pod (bench/cri-pod-start.ts, 1.47 vs 1.49
// MiB) and idle RSS after gRPC load (bench/grpc-load.ts, 74 MiB) were the same with 10
// and 300; RSS 15 s after four pulls was 169 MB against 133 MB until the memory reducer
// ran. (This replaced --optimize-for-size, which also pinned the young generation at its
// smallest and compiled for size: ~1.5–2.5× the CPU per gRPC call, issue 12.)
//
// So bin/berthd execs itself once (same pid, so pid files, supervisors and tests see one
// process) with the flags when they are missing. BERTH_V8_FLAGS=0 turns this off; any other value
// is the list of flags to use instead (space-separated).
//
// The exec'd node does not read NODE_EXTRA_CA_CERTS at start-up (src/remotes/deferred-extra-ca.ts):
// with a system CA bundle there, berthd's start through test/harness (`node bin/berthd`, until
// its socket answers; 8 starts, twice) fell from 516-519 to 464-465 ms (medians). Its
// registry client adds the certificates when it first connects over TLS.
import { execve } from '../native';
import { withExtraCaCertsDeferred } from '../remotes/deferred-extra-ca';

export const DAEMON_V8_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--always-sparkplug', '--heap-growing-percent=300'];

/** Marks the re-exec'd process so that a failure to apply the flags cannot loop. */
const MARK = 'BERTH_V8_RELAUNCHED';

/** Returns the argv to exec, or undefined when nothing needs doing. */
export function relaunchArgv(
  flags: readonly string[],
  p: { execPath: string; execArgv: readonly string[]; argv: readonly string[]; env: NodeJS.ProcessEnv },
): string[] | undefined {
  if (p.env[MARK] === '1') return undefined;
  const missing = flags.filter((f) => !p.execArgv.includes(f));
  if (missing.length === 0) return undefined;
  // NODE_OPTIONS flags apply again after the exec; argv[1] is the script.
  return [p.execPath, ...p.execArgv, ...missing, ...p.argv.slice(1)];
}

/** The flags to run with: BERTH_V8_FLAGS if set (0: none), else DAEMON_V8_FLAGS. */
export function daemonV8Flags(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const v = env['BERTH_V8_FLAGS'];
  if (v === undefined || v.trim() === '') return DAEMON_V8_FLAGS;
  if (v.trim() === '0') return [];
  return v.trim().split(/\s+/);
}

/** Execs this process again with the flags if they are missing; returns otherwise. */
export function relaunchWithV8Flags(flags: readonly string[] = daemonV8Flags()): void {
  if (process.env[MARK] === '1') {
    delete process.env[MARK]; // shims and runtimes need not see it
    return;
  }
  const argv = relaunchArgv(flags, process);
  if (!argv) return;
  const env = Object.entries({ ...withExtraCaCertsDeferred(process.env), [MARK]: '1' })
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  try {
    execve(process.execPath, argv, env);
  } catch (err) {
    // Run without the flags rather than not at all (e.g. the addon is not built).
    process.stderr.write(`berthd: running without V8 flags ${flags.join(' ')}: ${(err as Error).message}\n`);
  }
}
