// A seccomp profile from a JSON file (containerd's seccomp.WithProfile, what CRI's
// "localhost/<path>" profiles use). containerd decodes the file straight into the runtime
// spec's LinuxSeccomp with Go's encoding/json, so the same rules hold here: keys match
// field names case-insensitively, unknown keys (docker's "archMap", "comment", "includes"…)
// are ignored, null leaves a field unset, and a value of the wrong type fails the load.
import * as fs from 'node:fs';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';
import type { SpecOpt } from './spec-opt';
import { ensureLinux } from './spec-sections';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, SeccompAction, SeccompOperator } from './spec-types';

class DecodeError extends Error {}

type JsonObject = Record<string, unknown>;

/**
 * The value of field `name` in obj as Go's decoder sets it: every key equal to the name
 * but for case is decoded into the field, in order, so the last one wins.
 */
function field(obj: JsonObject, name: string): unknown {
  let found: unknown;
  for (const key of Object.keys(obj)) if (key.toLowerCase() === name.toLowerCase()) found = obj[key];
  return found;
}

function object(v: unknown, what: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeError(`cannot unmarshal ${jsonType(v)} into ${what}`);
  return v as JsonObject;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new DecodeError(`cannot unmarshal ${jsonType(v)} into ${what} of type string`);
  return v;
}

/** A Go uint/uint64 field: a non-negative integer (precision of a JS number). */
function uint(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new DecodeError(`cannot unmarshal ${JSON.stringify(v)} into ${what} of type uint`);
  return v;
}

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new DecodeError(`cannot unmarshal ${jsonType(v)} into ${what} of type []string`);
  return v.map((e, i) => str(e, `${what}[${i}]`) ?? '');
}

function list<T>(v: unknown, what: string, decode: (e: unknown, what: string) => T): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new DecodeError(`cannot unmarshal ${jsonType(v)} into ${what}`);
  return v.map((e, i) => decode(e, `${what}[${i}]`));
}

function decodeArg(v: unknown, what: string): LinuxSeccompArg {
  if (v === null) return { index: 0, value: 0, op: '' as SeccompOperator };
  const o = object(v, what);
  const arg: LinuxSeccompArg = {
    index: uint(field(o, 'index'), `${what}.index`) ?? 0,
    value: uint(field(o, 'value'), `${what}.value`) ?? 0,
    op: (str(field(o, 'op'), `${what}.op`) ?? '') as SeccompOperator,
  };
  const valueTwo = uint(field(o, 'valueTwo'), `${what}.valueTwo`);
  if (valueTwo) arg.valueTwo = valueTwo;
  return arg;
}

function decodeSyscall(v: unknown, what: string): LinuxSyscall {
  // A rule without names reads as an empty list here (Go would write null); either way runc
  // adds no rule for it.
  if (v === null) return { names: [], action: '' as SeccompAction };
  const o = object(v, what);
  const rule: LinuxSyscall = {
    names: strings(field(o, 'names'), `${what}.names`) ?? [],
    action: (str(field(o, 'action'), `${what}.action`) ?? '') as SeccompAction,
  };
  const errnoRet = uint(field(o, 'errnoRet'), `${what}.errnoRet`);
  if (errnoRet !== undefined) rule.errnoRet = errnoRet;
  const args = list(field(o, 'args'), `${what}.args`, decodeArg);
  if (args && args.length > 0) rule.args = args;
  return rule;
}

/** Decodes a profile as containerd does (see the file comment); throws DecodeError. */
function decodeProfile(text: string): LinuxSeccomp {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DecodeError((err as Error).message);
  }
  const o = object(parsed, 'LinuxSeccomp');
  const profile: LinuxSeccomp = { defaultAction: (str(field(o, 'defaultAction'), 'defaultAction') ?? '') as SeccompAction };
  const defaultErrnoRet = uint(field(o, 'defaultErrnoRet'), 'defaultErrnoRet');
  if (defaultErrnoRet !== undefined) profile.defaultErrnoRet = defaultErrnoRet;
  const architectures = strings(field(o, 'architectures'), 'architectures');
  if (architectures && architectures.length > 0) profile.architectures = architectures;
  const flags = strings(field(o, 'flags'), 'flags');
  if (flags && flags.length > 0) profile.flags = flags;
  const listenerPath = str(field(o, 'listenerPath'), 'listenerPath');
  if (listenerPath) profile.listenerPath = listenerPath;
  const listenerMetadata = str(field(o, 'listenerMetadata'), 'listenerMetadata');
  if (listenerMetadata) profile.listenerMetadata = listenerMetadata;
  const syscalls = list(field(o, 'syscalls'), 'syscalls', decodeSyscall);
  if (syscalls && syscalls.length > 0) profile.syscalls = syscalls;
  return profile;
}

/** The seccomp profile in the JSON file at profilePath (containerd's seccomp.WithProfile). */
export function withSeccompProfile(profilePath: string): SpecOpt {
  return (_ctx, spec) => {
    let text: string;
    try {
      text = fs.readFileSync(profilePath, 'utf8');
    } catch (err) {
      throw new UnknownError(`cannot load seccomp profile ${JSON.stringify(profilePath)}: ${new PathError('open', profilePath, err).message}`);
    }
    try {
      ensureLinux(spec).seccomp = decodeProfile(text);
    } catch (err) {
      if (err instanceof DecodeError) throw new UnknownError(`decoding seccomp profile failed ${JSON.stringify(profilePath)}: ${err.message}`);
      throw err;
    }
  };
}
