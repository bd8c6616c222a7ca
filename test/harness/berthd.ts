// Start a private berthd for a test: temp root/state/socket by default, logs captured.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDaemon, type DaemonHandle } from './daemon';
import { makeTempRoot } from './tempdir';

/** Repository root (test/harness/../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const BERTHD_BIN = path.join(REPO_ROOT, 'bin', 'berthd');

export interface BerthdOptions {
  root?: string;
  state?: string;
  address?: string;
  config?: string;
  /** Appended after the standard arguments. */
  extraArgs?: string[];
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default 'debug'. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the socket (default 20 s). */
  startTimeoutMs?: number;
  /** Script run with node instead of <repo>/bin/berthd (for testing the harness itself). */
  bin?: string;
  /**
   * Command prefix berthd runs under (e.g. nsenter into private namespaces); the prefix
   * must exec node, so the PID stopped at cleanup is berthd's own.
   */
  wrap?: string[];
}

export interface BerthdHandle extends DaemonHandle {
  readonly root: string;
  readonly state: string;
  /** The temp dir holding root/, state/, berthd.sock and berthd.log. */
  readonly dir: string;
  /** File that receives the daemon's stdout+stderr (across restarts). */
  readonly logFile: string;
}

/**
 * Spawns `node bin/berthd --root <tmp>/root --state <tmp>/state --address <tmp>/berthd.sock
 * --log-level debug [--config FILE] ...extraArgs` and waits until the socket accepts
 * connections. Rejects, with berthd's output in the message, if it exits first.
 */
export async function startBerthd(opts: BerthdOptions = {}): Promise<BerthdHandle> {
  const tmp = makeTempRoot('berthd-');
  const root = opts.root ?? path.join(tmp.path, 'root');
  const state = opts.state ?? path.join(tmp.path, 'state');
  const address = opts.address ?? path.join(tmp.path, 'berthd.sock');
  const logFile = path.join(tmp.path, 'berthd.log');
  const bin = opts.bin ?? BERTHD_BIN;
  const args = [
    bin,
    '--root',
    root,
    '--state',
    state,
    '--address',
    address,
    '--log-level',
    opts.logLevel ?? 'debug',
  ];
  if (opts.config !== undefined) args.push('--config', opts.config);
  args.push(...(opts.extraArgs ?? []));

  if (!fs.existsSync(bin)) {
    await tmp.cleanup();
    throw new Error(`${bin} does not exist (is berthd built? run scripts/ensure-deps.sh)`);
  }
  const daemon = await startDaemon({
    name: 'berthd',
    command: opts.wrap?.[0] ?? process.execPath,
    args: opts.wrap?.length ? [...opts.wrap.slice(1), process.execPath, ...args] : args,
    env: { ...process.env, ...opts.env },
    address,
    tempRoot: tmp,
    mountDirs: [root, state],
    logFile,
    startTimeoutMs: opts.startTimeoutMs,
  });
  const extra: Omit<BerthdHandle, keyof DaemonHandle> = { root, state, dir: tmp.path, logFile };
  return Object.assign(daemon, extra);
}
