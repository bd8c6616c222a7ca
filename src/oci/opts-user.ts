// The user a container's process runs as, resolved as containerd 1.6 resolves it: names
// and groups come from the container's own /etc/passwd and /etc/group (SpecContext.rootfs),
// and the primary gid always leads process.user.additionalGids unless it is already in them.
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';
import { gidFromPath, parseGoInt, readGroups, NoUsersFoundError, toUint32, userFromPath } from './passwd';
import type { SpecContext, SpecOpt } from './spec-opt';
import { ensureProcess } from './spec-sections';
import type { Spec } from './spec-types';

/**
 * Runs fn on the host directory holding the container's rootfs: ctx.rootfs, else one
 * ctx.mountRootfs provides for the call, else the spec's root.path when absolute.
 */
async function inRootfs<T>(ctx: SpecContext, spec: Spec, fn: (root: string) => T | Promise<T>): Promise<T> {
  if (ctx.rootfs !== undefined) return fn(ctx.rootfs);
  if (ctx.mountRootfs) return ctx.mountRootfs(async (root) => fn(root));
  const root = spec.root?.path ?? '';
  if (!path.isAbsolute(root)) throw new UnknownError('rootfs absolute path is required');
  return fn(root);
}

/** containerd's ensureAdditionalGids: the primary gid first, unless already listed. */
function ensureAdditionalGids(spec: Spec): void {
  const user = ensureProcess(spec).user;
  const gids = user.additionalGids ?? [];
  if (gids.includes(user.gid)) return;
  user.additionalGids = [user.gid, ...gids];
}

/** Runs fn, then ensureAdditionalGids whether fn threw or not (Go's defer). */
async function thenEnsureGids(spec: Spec, fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } finally {
    ensureAdditionalGids(spec);
  }
}

function isNotExist(err: unknown): boolean {
  return err instanceof PathError && err.notExist;
}

/** Sets uid and gid as given, with no lookup (containerd's WithUIDGID). */
export function withUIDGID(uid: number, gid: number): SpecOpt {
  return (_ctx, spec) => {
    const user = ensureProcess(spec).user;
    delete user.additionalGids;
    user.uid = uid;
    user.gid = gid;
    ensureAdditionalGids(spec);
  };
}

/**
 * Runs as uid with the gid of its passwd entry; a uid the rootfs has no entry for (or no
 * /etc/passwd at all) runs with gid 0 (containerd's WithUserID).
 */
export function withUserID(uid: number): SpecOpt {
  return (ctx, spec) =>
    thenEnsureGids(spec, () => {
      const user = ensureProcess(spec).user;
      delete user.additionalGids;
      return inRootfs(ctx, spec, (root) => {
        try {
          const entry = userFromPath(root, (u) => u.uid === uid);
          user.uid = toUint32(entry.uid);
          user.gid = toUint32(entry.gid);
        } catch (err) {
          if (!isNotExist(err) && !(err instanceof NoUsersFoundError)) throw err;
          user.uid = uid;
          user.gid = 0;
        }
      });
    });
}

/** Runs as the passwd entry named username; an unknown name is an error (containerd's WithUsername). */
export function withUsername(username: string): SpecOpt {
  return (ctx, spec) =>
    thenEnsureGids(spec, async () => {
      const user = ensureProcess(spec).user;
      delete user.additionalGids;
      if (!spec.linux) throw new UnknownError('spec does not contain Linux or Windows section');
      const entry = await inRootfs(ctx, spec, (root) => userFromPath(root, (u) => u.name === username));
      user.uid = toUint32(entry.uid);
      user.gid = toUint32(entry.gid);
    });
}

/**
 * Runs as an OCI image-spec user string (containerd's WithUser): "name" and "uid" as
 * withUsername / withUserID; "uid:gid" as given with no lookup; "name:group", "uid:group",
 * "name:gid" look the name up in /etc/passwd (its uid only: the gid is the one given) and the
 * group in /etc/group. An empty side counts as 0. More than one ':' is invalid.
 */
export function withUser(userstr: string): SpecOpt {
  return (ctx, spec) =>
    thenEnsureGids(spec, async () => {
      const user = ensureProcess(spec).user;
      delete user.additionalGids;
      const parts = userstr.split(':');
      if (parts.length === 1) {
        const v = parseGoInt(parts[0]);
        if (v === undefined) return withUsername(userstr)(ctx, spec);
        return withUserID(toUint32(v))(ctx, spec);
      }
      if (parts.length !== 2) throw new UnknownError(`invalid USER value ${userstr}`);
      let uid = 0;
      let gid = 0;
      let username = '';
      let groupname = '';
      const u = parseGoInt(parts[0]);
      if (u === undefined) username = parts[0];
      else uid = toUint32(u);
      const g = parseGoInt(parts[1]);
      if (g === undefined) groupname = parts[1];
      else gid = toUint32(g);
      if (username === '' && groupname === '') {
        user.uid = uid;
        user.gid = gid;
        return;
      }
      await inRootfs(ctx, spec, (root) => {
        if (username !== '') uid = toUint32(userFromPath(root, (e) => e.name === username).uid);
        if (groupname !== '') gid = toUint32(gidFromPath(root, (e) => e.name === groupname));
      });
      user.uid = uid;
      user.gid = gid;
    });
}

/**
 * Sets additionalGids to the groups of /etc/group that list the user (a name, or a uid
 * looked up in /etc/passwd) as a member, in file order, besides a group named like the
 * user; then the primary gid leads them (containerd's WithAdditionalGIDs). A uid without a
 * passwd entry, or a rootfs without /etc/group, gets the primary gid alone.
 */
export function withAdditionalGIDs(userstr: string): SpecOpt {
  return (ctx, spec) => {
    const user = ensureProcess(spec).user;
    delete user.additionalGids;
    // The primary gid is ensured only once the rootfs is there (an error before leaves it).
    return inRootfs(ctx, spec, (root) => thenEnsureGids(spec, () => {
      let username = userstr;
      const uid = parseGoInt(userstr);
      if (uid !== undefined) {
        try {
          username = userFromPath(root, (e) => e.uid === uid).name;
        } catch (err) {
          if (isNotExist(err) || err instanceof NoUsersFoundError) return;
          throw err;
        }
      }
      let groups;
      try {
        groups = readGroups(root);
      } catch (err) {
        if (isNotExist(err)) return;
        throw err;
      }
      const gids = groups.filter((g) => g.name !== username && g.members.includes(username)).map((g) => toUint32(g.gid));
      if (gids.length > 0) user.additionalGids = gids;
    }));
  };
}

/**
 * Appends groups (gids, or names looked up in /etc/group; an unknown name is an error) to
 * additionalGids, then makes sure the primary gid is among them (containerd's
 * WithAppendAdditionalGroups).
 */
export function withAppendAdditionalGroups(...groups: string[]): SpecOpt {
  return (ctx, spec) => {
    const user = ensureProcess(spec).user;
    return inRootfs(ctx, spec, (root) => thenEnsureGids(spec, () => {
      const byName = new Map<string, number>();
      for (const g of readGroups(root)) byName.set(g.name, g.gid);
      const gids: number[] = [];
      for (const group of groups) {
        if (/^[0-9]+$/.test(group) && BigInt(group) <= 0xffffffffn) {
          gids.push(Number(group));
          continue;
        }
        const gid = byName.get(group);
        if (gid === undefined) throw new UnknownError(`unable to find group ${group}`);
        gids.push(toUint32(gid));
      }
      const all = [...(user.additionalGids ?? []), ...gids];
      if (all.length > 0) user.additionalGids = all;
    }));
  };
}

/**
 * Adds gids to additionalGids, merged without duplicates and sorted, as containerd's CRI
 * applies a pod's supplementalGroups (criopts.WithSupplementalGroups).
 */
export function withSupplementalGroups(groups: readonly number[]): SpecOpt {
  return (_ctx, spec) => {
    const user = ensureProcess(spec).user;
    const merged = [...new Set([...(user.additionalGids ?? []), ...groups.map(toUint32)])].sort((a, b) => a - b);
    if (merged.length > 0) user.additionalGids = merged;
    else delete user.additionalGids;
  };
}
