// Options on the container's process: command, working directory, environment, terminal,
// privileges and OOM score, with containerd 1.6's names and semantics.
import * as fs from 'node:fs';
import { UnknownError } from '../errdefs/errors';
import { DEFAULT_UNIX_ENV } from './default-spec';
import { replaceOrAppendEnvValues } from './env';
import type { SpecOpt } from './spec-opt';
import { ensureProcess, setList, setString } from './spec-sections';

/** Replaces the process's args (containerd's WithProcessArgs). */
export function withProcessArgs(...args: string[]): SpecOpt {
  return (_ctx, spec) => {
    const process = ensureProcess(spec);
    setList(process, 'args', [...args]);
    delete process.commandLine;
  };
}

/** Sets the process's working directory (containerd's WithProcessCwd). */
export function withProcessCwd(cwd: string): SpecOpt {
  return (_ctx, spec) => {
    ensureProcess(spec).cwd = cwd;
  };
}

/**
 * Merges KEY=VALUE entries into the environment: a key already set is replaced in place,
 * a new one appended, a bare KEY unsets it (containerd's WithEnv, replaceOrAppendEnvValues).
 */
export function withEnv(env: readonly string[]): SpecOpt {
  return (_ctx, spec) => {
    if (env.length === 0) return;
    const process = ensureProcess(spec);
    setList(process, 'env', replaceOrAppendEnvValues(process.env ?? [], env));
  };
}

/** Sets PATH to containerd's default PATH (containerd's WithDefaultPathEnv). */
export const withDefaultPathEnv: SpecOpt = (_ctx, spec) => {
  const process = ensureProcess(spec);
  setList(process, 'env', replaceOrAppendEnvValues(process.env ?? [], DEFAULT_UNIX_ENV));
};

/** Runs the process on a terminal, with TERM=xterm appended on Linux (containerd's WithTTY). */
export const withTTY: SpecOpt = (_ctx, spec) => {
  const process = ensureProcess(spec);
  process.terminal = true;
  if (spec.linux) process.env = [...(process.env ?? []), 'TERM=xterm'];
};

/** Sets the terminal's initial size (containerd's WithTTYSize). */
export function withTTYSize(width: number, height: number): SpecOpt {
  return (_ctx, spec) => {
    const process = ensureProcess(spec);
    process.consoleSize = { height, width };
  };
}

/** Sets the container's hostname ("" removes it; containerd's WithHostname). */
export function withHostname(name: string): SpecOpt {
  return (_ctx, spec) => setString(spec, 'hostname', name);
}

/** Sets no_new_privileges (the default spec already does; containerd's WithNoNewPrivileges). */
export const withNoNewPrivileges: SpecOpt = (_ctx, spec) => {
  ensureProcess(spec).noNewPrivileges = true;
};

/** Clears no_new_privileges, so setuid binaries work (containerd's WithNewPrivileges). */
export const withNewPrivileges: SpecOpt = (_ctx, spec) => {
  delete ensureProcess(spec).noNewPrivileges;
};

/** Sets the AppArmor profile; "" means none, i.e. unconfined (containerd's WithApparmorProfile). */
export function withApparmorProfile(profile: string): SpecOpt {
  return (_ctx, spec) => setString(ensureProcess(spec), 'apparmorProfile', profile);
}

/** Sets the SELinux process label; "" means none (containerd's WithSelinuxLabel). */
export function withSelinuxLabel(label: string): SpecOpt {
  return (_ctx, spec) => setString(ensureProcess(spec), 'selinuxLabel', label);
}

/** This process's own oom_score_adj (what a child may not go below without CAP_SYS_RESOURCE). */
function currentOOMScoreAdj(): number {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/oom_score_adj', 'utf8');
  } catch (err) {
    throw new UnknownError(`could not get the daemon oom_score_adj: ${(err as Error).message}`);
  }
  const v = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(v)) throw new UnknownError(`could not get the daemon oom_score_adj: invalid value ${JSON.stringify(text.trim())}`);
  return v;
}

/**
 * Sets process.oomScoreAdj. With restrict (CRI's restrict_oom_score_adj), a score below
 * this daemon's own is raised to it, as containerd's CRI does where it lacks
 * CAP_SYS_RESOURCE (criopts.WithPodOOMScoreAdj / WithOOMScoreAdj).
 */
export function withOOMScoreAdj(adj: number, restrict = false): SpecOpt {
  return (_ctx, spec) => {
    const process = ensureProcess(spec);
    let score = adj;
    if (restrict) score = Math.max(score, currentOOMScoreAdj());
    process.oomScoreAdj = score;
  };
}

/** Sets (or replaces) annotations by key (containerd's WithAnnotations). */
export function withAnnotations(annotations: Readonly<Record<string, string>>): SpecOpt {
  return (_ctx, spec) => {
    const merged = { ...(spec.annotations ?? {}), ...annotations };
    if (Object.keys(merged).length > 0) spec.annotations = merged;
  };
}
