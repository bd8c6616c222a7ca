// berth's OCI spec generation (src/oci) against containerd v1.6.20's own oci package:
// test/go/ocispec builds every case below with containerd's GenerateSpec and its options
// (contrib/seccomp's default profile, pkg/cri/opts for the options only CRI has), and each
// case must come out of src/oci as the same JSON — or fail with the same error text. The
// user options read a rootfs this test writes (/etc/passwd, /etc/group with the odd lines
// runc's parser tolerates), the device options a directory of device nodes it makes.
import * as childProcess from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, makeTempRoot, runGoProgram, type TempRoot } from '../harness';
import * as oci from '../../src/oci';

type RootfsName = 'users' | 'empty' | 'links' | 'etclink' | 'loop' | 'notdir';

interface Opt {
  op: string;
  params?: unknown[];
}

interface Case {
  name: string;
  namespace: string;
  id: string;
  /** Key of a rootfs this test made, or none. */
  rootfs?: RootfsName;
  opts: Opt[];
  /**
   * Compare only the error's text up to the decoder's own words: Go's encoding/json and
   * JSON.parse word a syntax or type error differently; which file failed, and that it
   * failed to decode, must still agree.
   */
  errorPrefixOnly?: boolean;
  /**
   * Host directories the case creates (CRI volumes whose source is missing): removed
   * again after containerd's run, so that src/oci must create them too.
   */
  creates?: string[];
}

interface GoLine {
  name: string;
  spec?: unknown;
  error?: string;
}

const s = (v: unknown): string => v as string;
const n = (v: unknown): number => v as number;
const list = (v: unknown): string[] => v as string[];

/** berth's option for each name test/go/ocispec knows, taking the same params. */
const OPTIONS: Readonly<Record<string, (p: unknown[]) => oci.SpecOpt>> = {
  withDefaultSpec: () => oci.withDefaultSpec,
  withProcessArgs: (p) => oci.withProcessArgs(...list(p[0])),
  withProcessCwd: (p) => oci.withProcessCwd(s(p[0])),
  withEnv: (p) => oci.withEnv(list(p[0])),
  withDefaultPathEnv: () => oci.withDefaultPathEnv,
  withTTY: () => oci.withTTY,
  withTTYSize: (p) => oci.withTTYSize(n(p[0]), n(p[1])),
  withHostname: (p) => oci.withHostname(s(p[0])),
  withNoNewPrivileges: () => oci.withNoNewPrivileges,
  withNewPrivileges: () => oci.withNewPrivileges,
  withApparmorProfile: (p) => oci.withApparmorProfile(s(p[0])),
  withSelinuxLabel: (p) => oci.withSelinuxLabel(s(p[0])),
  withOOMScoreAdj: (p) => oci.withOOMScoreAdj(n(p[0]), p[1] === true),
  withAnnotations: (p) => oci.withAnnotations(p[0] as Record<string, string>),
  withImageConfig: (p) => oci.withImageConfig(p[0] as oci.ImageConfig),
  withImageConfigArgs: (p) => oci.withImageConfigArgs(p[0] as oci.ImageConfig, list(p[1])),
  withUser: (p) => oci.withUser(s(p[0])),
  withUserID: (p) => oci.withUserID(n(p[0])),
  withUsername: (p) => oci.withUsername(s(p[0])),
  withUIDGID: (p) => oci.withUIDGID(n(p[0]), n(p[1])),
  withAdditionalGIDs: (p) => oci.withAdditionalGIDs(s(p[0])),
  withAppendAdditionalGroups: (p) => oci.withAppendAdditionalGroups(...list(p[0])),
  withSupplementalGroups: (p) => oci.withSupplementalGroups(p[0] as number[]),
  withMounts: (p) => oci.withMounts(p[0] as oci.Mount[]),
  withoutMounts: (p) => oci.withoutMounts(...list(p[0])),
  withoutRunMount: () => oci.withoutRunMount,
  withHostHostsFile: () => oci.withHostHostsFile,
  withHostResolvconf: () => oci.withHostResolvconf,
  withHostLocaltime: () => oci.withHostLocaltime,
  withDevShmSize: (p) => oci.withDevShmSize(n(p[0])),
  withWriteableSysfs: () => oci.withWriteableSysfs,
  withWriteableCgroupfs: () => oci.withWriteableCgroupfs,
  withRootFSPath: (p) => oci.withRootFSPath(s(p[0])),
  withRootFSReadonly: () => oci.withRootFSReadonly(),
  withHostNamespace: (p) => oci.withHostNamespace(p[0] as oci.LinuxNamespaceType),
  withLinuxNamespace: (p) => oci.withLinuxNamespace(p[0] as oci.LinuxNamespace),
  withUserNamespace: (p) => oci.withUserNamespace(p[0] as oci.LinuxIdMapping[], p[1] as oci.LinuxIdMapping[]),
  withCgroup: (p) => oci.withCgroup(s(p[0])),
  withNamespacedCgroup: () => oci.withNamespacedCgroup,
  withMaskedPaths: (p) => oci.withMaskedPaths(list(p[0])),
  withReadonlyPaths: (p) => oci.withReadonlyPaths(list(p[0])),
  withSysctls: (p) => oci.withSysctls(p[0] as Record<string, string>),
  withSeccompUnconfined: () => oci.withSeccompUnconfined,
  withMemoryLimit: (p) => oci.withMemoryLimit(n(p[0])),
  withMemorySwap: (p) => oci.withMemorySwap(n(p[0])),
  withCPUShares: (p) => oci.withCPUShares(n(p[0])),
  withCPUs: (p) => oci.withCPUs(s(p[0])),
  withCPUsMems: (p) => oci.withCPUsMems(s(p[0])),
  withCPUCFS: (p) => oci.withCPUCFS(n(p[0]), n(p[1])),
  withPidsLimit: (p) => oci.withPidsLimit(n(p[0])),
  withCapabilities: (p) => oci.withCapabilities(list(p[0])),
  withAddedCapabilities: (p) => oci.withAddedCapabilities(list(p[0])),
  withDroppedCapabilities: (p) => oci.withDroppedCapabilities(list(p[0])),
  withAmbientCapabilities: (p) => oci.withAmbientCapabilities(list(p[0])),
  withAllKnownCapabilities: () => oci.withAllKnownCapabilities,
  withAllCurrentCapabilities: () => oci.withAllCurrentCapabilities,
  withPrivileged: () => oci.withPrivileged,
  withDevices: (p) => oci.withDevices(s(p[0]), s(p[1]), s(p[2])),
  withLinuxDevice: (p) => oci.withLinuxDevice(s(p[0]), s(p[1])),
  withLinuxDevices: (p) => oci.withLinuxDevices(p[0] as oci.LinuxDevice[]),
  withHostDevices: () => oci.withHostDevices,
  withAllDevicesAllowed: () => oci.withAllDevicesAllowed,
  withParentCgroupDevices: () => oci.withParentCgroupDevices,
  withDefaultUnixDevices: () => oci.withDefaultUnixDevices,
  withDefaultSeccompProfile: () => oci.withDefaultSeccompProfile,
  withSeccompProfile: (p) => oci.withSeccompProfile(s(p[0])),
  withCRIProcessArgs: (p) => oci.withCRIProcessArgs(list(p[0]), list(p[1]), p[2] as oci.ImageConfig),
  withCRICapabilities: (p) => oci.withCRICapabilities((p[0] ?? undefined) as oci.CRICapabilityChanges | undefined, list(p[1])),
  withCRIAdditionalGIDs: (p) => oci.withCRIAdditionalGIDs(s(p[0])),
  withoutNamespace: (p) => oci.withoutNamespace(p[0] as oci.LinuxNamespaceType),
  withPodNamespaces: (p) => oci.withPodNamespaces(p[0] as oci.CRINamespaceMode, n(p[1]), n(p[2])),
  withoutAmbientCapabilities: () => oci.withoutAmbientCapabilities,
  withoutDefaultSecuritySettings: () => oci.withoutDefaultSecuritySettings,
  withDisabledCgroups: () => oci.withDisabledCgroups,
  withRelativeRoot: (p) => oci.withRelativeRoot(s(p[0])),
  withoutRoot: () => oci.withoutRoot,
  withDefaultSandboxShares: () => oci.withDefaultSandboxShares,
  withCRIMounts: (p) => oci.withCRIMounts(p[0] as oci.CRIMount[], (p[1] ?? []) as oci.CRIMount[]),
  withCRIDevices: (p) => oci.withCRIDevices(p[0] as oci.CRIDevice[], (p[1] ?? undefined) as { runAsUser?: number; runAsGroup?: number } | undefined),
  withCRIResources: (p) => oci.withCRIResources((p[0] ?? undefined) as oci.CRILinuxResources | undefined, (p[1] ?? {}) as oci.CRIResourcesPolicy),
};

const op = (name: string, ...params: unknown[]): Opt => ({ op: name, params });

// /etc/passwd with what runc's parser must cope with: an indented line, a duplicate uid
// (the first wins), a '#' line (a user named "#comment": passwd has no comments), a short
// line, numbers that do not parse (0), a blank line.
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:1002::/home/bob:/bin/sh',
  '   carol:x:1002:100:indented:/home/carol:/bin/sh   ',
  '',
  'dup:x:1000:5000::/:',
  '#comment:x:7:7::/:',
  'short:x:2000',
  'badnum:x:abc:def::/:',
  'big:x:4000000000:4000000001::/:',
].join('\n');

// /etc/group: a group named like its member (never a supplementary group of that user),
// comment lines, a CRLF line, members lists with and without the user.
const GROUP = [
  'root:x:0:',
  'daemon:x:1:alice',
  'alice:x:1000:alice',
  'bob:x:1002:',
  'staff:x:50:alice,bob',
  '# a comment',
  '  wheel:x:10:root,alice',
  'audio:x:29:bob,carol\r',
  'alice2:x:3000:alice',
  'users:x:100:',
  'nomembers:x:4242',
].join('\n');

const IMAGE = {
  User: 'alice',
  Env: ['PATH=/opt/bin:/usr/bin', 'LANG=C.UTF-8', 'EMPTY='],
  Entrypoint: ['/docker-entrypoint.sh'],
  Cmd: ['nginx', '-g', 'daemon off;'],
  WorkingDir: '/srv',
  ExposedPorts: { '80/tcp': {} },
  Labels: { a: 'b' },
};

let root: TempRoot;
let rootfs: Record<RootfsName, string>;
let devDir: string;
let goBin: string;

function makeRootfs(): void {
  const users = path.join(root.path, 'users');
  fs.mkdirSync(path.join(users, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(users, 'etc', 'passwd'), PASSWD);
  fs.writeFileSync(path.join(users, 'etc', 'group'), GROUP);
  const empty = path.join(root.path, 'empty');
  fs.mkdirSync(empty);
  // Symlinks resolved inside the rootfs: a relative one climbing past the root, an absolute one.
  const links = path.join(root.path, 'links');
  fs.mkdirSync(path.join(links, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(links, 'shared'));
  fs.mkdirSync(path.join(links, 'data'));
  fs.writeFileSync(path.join(links, 'shared', 'passwd'), 'linked:x:777:778::/:\n');
  fs.writeFileSync(path.join(links, 'data', 'group'), 'lgroup:x:900:linked\n');
  fs.symlinkSync('../../../../shared/passwd', path.join(links, 'etc', 'passwd'));
  fs.symlinkSync('/data/group', path.join(links, 'etc', 'group'));
  // The host must not be what is read: a passwd next to the rootfs that a climbing link would hit.
  fs.writeFileSync(path.join(root.path, 'passwd'), 'host:x:1:1::/:\n');
  // /etc itself a symlink (absolute, to a directory), group a relative link with a ".."
  // through a directory that does not exist.
  const etclink = path.join(root.path, 'etclink');
  fs.mkdirSync(path.join(etclink, 'conf'), { recursive: true });
  fs.writeFileSync(path.join(etclink, 'conf', 'passwd'), 'viaetc:x:55:56::/:\n');
  fs.writeFileSync(path.join(etclink, 'group'), 'g1:x:60:viaetc\n');
  fs.symlinkSync('/conf', path.join(etclink, 'etc'));
  fs.symlinkSync('../missing/../../group', path.join(etclink, 'conf', 'group'));
  // A symlink loop, and an /etc that is a file.
  const loop = path.join(root.path, 'loop');
  fs.mkdirSync(path.join(loop, 'etc'), { recursive: true });
  fs.symlinkSync('group', path.join(loop, 'etc', 'passwd'));
  fs.symlinkSync('/etc/passwd', path.join(loop, 'etc', 'group'));
  const notdir = path.join(root.path, 'notdir');
  fs.mkdirSync(notdir);
  fs.writeFileSync(path.join(notdir, 'etc'), 'x');
  rootfs = { users, empty, links, etclink, loop, notdir };
}

function makeDevices(): void {
  devDir = path.join(root.path, 'dev');
  fs.mkdirSync(path.join(devDir, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(devDir, 'pts'));
  const mknod = (name: string, ...args: string[]): void => {
    childProcess.execFileSync('mknod', [path.join(devDir, name), ...args]);
  };
  mknod('null', 'c', '1', '3');
  mknod('loopx', 'b', '7', '200');
  mknod('big', 'c', '300', '70000');
  mknod('fifo', 'p');
  mknod('console', 'c', '5', '1');
  mknod('sub/tty9', 'c', '4', '9');
  mknod('pts/0', 'c', '136', '0');
  fs.chmodSync(path.join(devDir, 'big'), 0o4620);
  fs.chownSync(path.join(devDir, 'big'), 5, 6);
  fs.symlinkSync('null', path.join(devDir, 'link'));
  fs.writeFileSync(path.join(devDir, 'regular'), 'x');
}

// Seccomp profiles as CRI's localhost/ profiles are written: docker's format (archMap,
// comments, includes — ignored by containerd's decoder), keys in other cases, nulls.
const PROFILES: Readonly<Record<string, string>> = {
  'docker.json': JSON.stringify({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
    Architectures: ['SCMP_ARCH_X86_64'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    listenerPath: '',
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'io', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }, { Index: 1, VALUE: 4294967295, valueTwo: 3, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, args: [] },
    ],
  }),
  'nulls.json': '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":null,"architectures":[],"defaultErrnoRet":null,"defaultaction":"SCMP_ACT_LOG"}',
  'minimal.json': '{}',
  'bad-type.json': '{"defaultAction":5}',
  'bad-args.json': '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":-1,"value":0,"op":"SCMP_CMP_EQ"}]}]}',
  'not-json.json': '{"defaultAction":',
  'array.json': '[]',
};

// Volume sources for the CRI mount cases: plain directories, a symlink, a file, and bind
// mounts of this test with each propagation (shared, a slave of it, and private ones). The
// propagation cases use only these: how / propagates differs between hosts (shared under
// systemd, private here).
function makeVolumes(): void {
  const vol = path.join(root.path, 'vol');
  for (const d of ['a', 'b', 'deep', 'shared', 'slave', 'private']) fs.mkdirSync(path.join(vol, d), { recursive: true });
  fs.symlinkSync(path.join(vol, 'a'), path.join(vol, 'link'));
  fs.writeFileSync(path.join(vol, 'file'), 'x');
  const mount = (...args: string[]): void => {
    childProcess.execFileSync('mount', args);
  };
  mount('--bind', path.join(vol, 'shared'), path.join(vol, 'shared'));
  mount('--make-shared', path.join(vol, 'shared'));
  mount('--bind', path.join(vol, 'shared'), path.join(vol, 'slave'));
  mount('--make-slave', path.join(vol, 'slave'));
  mount('--bind', path.join(vol, 'private'), path.join(vol, 'private'));
  mount('--make-private', path.join(vol, 'private'));
}

function cases(): Case[] {
  const c = (name: string, opts: Opt[], extra: Partial<Case> = {}): Case => ({ name, namespace: 'default', id: 'c1', rootfs: 'users', opts, ...extra });
  const seccompCaps = ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_BPF', 'CAP_PERFMON', 'CAP_DAC_READ_SEARCH', 'CAP_SYS_MODULE', 'CAP_SYS_NICE', 'CAP_SYSLOG'];
  return [
    // The default spec.
    c('default', []),
    c('default other namespace and id', [], { namespace: 'k8s.io', id: '0123456789abcdef' }),
    c('default id cleaned into the cgroup path', [], { id: 'a/../b' }),
    c('no namespace', [], { namespace: '' }),
    c('withDefaultSpec resets', [op('withProcessArgs', ['x']), op('withHostname', 'h'), op('withDefaultSpec')]),

    // Process.
    c('args', [op('withProcessArgs', ['/bin/sh', '-c', 'echo hi'])]),
    c('args none', [op('withProcessArgs', [])]),
    c('cwd', [op('withProcessCwd', '/work')]),
    c('env', [op('withEnv', ['A=1', 'B=2', 'C'])]),
    c('env replace unset append', [op('withEnv', ['A=1', 'B=2', 'A=3']), op('withEnv', ['B', 'NEW=x', 'NEW=y', 'A=', 'Z'])]),
    c('env empty list', [op('withEnv', [])]),
    c('default PATH over env', [op('withEnv', ['PATH=/x', 'HOME=/root']), op('withDefaultPathEnv')]),
    c('tty', [op('withTTY')]),
    c('tty with env', [op('withEnv', ['TERM=vt100']), op('withTTY'), op('withTTYSize', 80, 24)]),
    c('hostname', [op('withHostname', 'web-1')]),
    c('hostname cleared', [op('withHostname', 'web-1'), op('withHostname', '')]),
    c('new privileges', [op('withNewPrivileges')]),
    c('no new privileges again', [op('withNewPrivileges'), op('withNoNewPrivileges')]),
    c('apparmor and selinux', [op('withApparmorProfile', 'docker-default'), op('withSelinuxLabel', 'system_u:system_r:container_t:s0')]),
    c('apparmor cleared', [op('withApparmorProfile', 'x'), op('withApparmorProfile', '')]),
    c('oom score', [op('withOOMScoreAdj', 500)]),
    c('oom score zero', [op('withOOMScoreAdj', 0)]),
    c('oom score restricted', [op('withOOMScoreAdj', -999, true)]),
    c('annotations', [op('withAnnotations', { a: '1', b: '2' }), op('withAnnotations', { b: '3', c: '' })]),
    c('annotations empty', [op('withAnnotations', {})]),

    // Image config.
    c('image config', [op('withImageConfig', IMAGE)]),
    c('image config with args', [op('withImageConfigArgs', IMAGE, ['nginx', '-t'])]),
    c('image config empty', [op('withImageConfig', {})]),
    c('image config env merged under earlier env', [op('withEnv', ['LANG=en_US', 'X=1']), op('withImageConfig', IMAGE)]),
    c('image config then args', [op('withImageConfig', IMAGE), op('withProcessArgs', ['sh'])]),
    c('image user uid:group', [op('withImageConfig', { User: '1001:staff', Cmd: ['true'] })]),
    c('image user uid', [op('withImageConfig', { User: '1001' })]),
    c('image user unknown', [op('withImageConfig', { User: 'nobody' })]),
    c('image user root groups', [op('withImageConfig', { Cmd: ['id'] })]),
    c('image without rootfs', [op('withImageConfig', { Cmd: ['id'] })], { rootfs: undefined }),
    c('image empty rootfs', [op('withImageConfig', { User: '123', Cmd: ['id'] })], { rootfs: 'empty' }),

    // Users.
    ...['alice', '1000', '1001', '4242', '2000', 'alice:wheel', '1000:50', '0:0', ':', 'alice:', ':staff', '4242:staff', 'bob:7', 'carol', '#comment', 'badnum', 'big', '-1', '+1000', '007', 'nobody', 'nobody:staff', 'alice:nogroup', 'a:b:c', '99999999999999999999'].map((u) =>
      c(`user ${JSON.stringify(u)}`, [op('withUser', u)]),
    ),
    c('user without rootfs', [op('withUser', 'alice')], { rootfs: undefined }),
    c('user uid:gid without rootfs', [op('withUser', '5:6')], { rootfs: undefined }),
    c('user name in empty rootfs', [op('withUser', 'alice')], { rootfs: 'empty' }),
    c('user uid in empty rootfs', [op('withUser', '5')], { rootfs: 'empty' }),
    c('user through symlinks', [op('withUser', 'linked'), op('withAdditionalGIDs', 'linked')], { rootfs: 'links' }),
    c('user group through symlinks', [op('withUser', 'linked:lgroup')], { rootfs: 'links' }),
    c('user through a symlinked /etc', [op('withUser', 'viaetc'), op('withAdditionalGIDs', 'viaetc')], { rootfs: 'etclink' }),
    c('user in a symlink loop', [op('withUser', 'alice')], { rootfs: 'loop' }),
    c('userID in a symlink loop', [op('withUserID', 5)], { rootfs: 'loop' }),
    c('user where /etc is a file', [op('withUser', 'alice')], { rootfs: 'notdir' }),
    c('userID where /etc is a file', [op('withUserID', 5)], { rootfs: 'notdir' }),
    c('additional gids where /etc is a file', [op('withAdditionalGIDs', 'alice')], { rootfs: 'notdir' }),
    c('userID', [op('withUserID', 1000)]),
    c('userID unknown', [op('withUserID', 31337)]),
    c('username', [op('withUsername', 'carol')]),
    c('username unknown', [op('withUsername', 'zed')]),
    c('uidgid', [op('withUIDGID', 5, 6)]),
    c('uidgid after groups', [op('withUser', 'alice'), op('withAdditionalGIDs', 'alice'), op('withUIDGID', 7, 8)]),
    ...['alice', '1000', 'bob', '1001', '4242', 'nobody', 'carol', 'root', '0'].map((u) => c(`additional gids ${u}`, [op('withUser', u === 'nobody' ? '3:3' : u), op('withAdditionalGIDs', u)])),
    c('additional gids empty rootfs', [op('withUIDGID', 3, 4), op('withAdditionalGIDs', 'alice')], { rootfs: 'empty' }),
    c('additional gids without rootfs', [op('withAdditionalGIDs', 'alice')], { rootfs: undefined }),
    c('append groups', [op('withUser', 'alice'), op('withAppendAdditionalGroups', ['staff', '7', 'wheel', '1000'])]),
    c('append groups unknown', [op('withAppendAdditionalGroups', ['nope'])]),
    c('append groups empty rootfs', [op('withAppendAdditionalGroups', ['7'])], { rootfs: 'empty' }),
    c('supplemental groups', [op('withUser', 'bob'), op('withSupplementalGroups', [50, 10, 0, 50, 1002])]),

    // Mounts and root.
    c('mounts', [op('withMounts', [{ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rw'] }, { destination: '/cache', source: '/tmp' }])]),
    c('mounts empty', [op('withMounts', [])]),
    c('without mounts', [op('withMounts', [{ destination: '/data/', type: 'bind', source: '/x' }]), op('withoutMounts', ['/run', '/data', '/dev/shm/'])]),
    c('without every mount', [op('withoutMounts', ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/run'])]),
    c('without run mount', [op('withoutRunMount')]),
    c('host files', [op('withHostHostsFile'), op('withHostResolvconf'), op('withHostLocaltime')]),
    c('dev shm size', [op('withDevShmSize', 131072), op('withDevShmSize', 1024)]),
    c('dev shm size without shm', [op('withoutMounts', ['/dev/shm']), op('withDevShmSize', 1)]),
    c('writeable sysfs and cgroupfs', [op('withMounts', [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid'] }]), op('withWriteableSysfs'), op('withWriteableCgroupfs')]),
    c('writeable sysfs only', [op('withMounts', [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] }, { destination: '/ro', type: 'bind', source: '/x', options: ['rbind', 'ro'] }]), op('withWriteableSysfs')]),
    c('writeable cgroupfs only', [op('withMounts', [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] }]), op('withWriteableCgroupfs')]),
    c('rootfs path and readonly', [op('withRootFSPath', '/var/lib/x/rootfs'), op('withRootFSReadonly')]),

    // Namespaces, cgroups, paths, sysctls.
    c('host network and pid', [op('withHostNamespace', 'network'), op('withHostNamespace', 'pid')]),
    c('host namespace absent', [op('withHostNamespace', 'user')]),
    c('every host namespace', ['pid', 'ipc', 'uts', 'mount', 'network'].map((t) => op('withHostNamespace', t))),
    c('join namespaces', [op('withLinuxNamespace', { type: 'network', path: '/var/run/netns/cni-1' }), op('withLinuxNamespace', { type: 'cgroup' }), op('withLinuxNamespace', { type: 'ipc', path: '/proc/42/ns/ipc' })]),
    c('user namespace', [
      op('withUserNamespace', [{ containerID: 0, hostID: 100000, size: 65536 }], [{ containerID: 0, hostID: 100000, size: 65536 }]),
      op('withUserNamespace', [{ containerID: 65536, hostID: 300000, size: 1 }], []),
    ]),
    c('user namespace no maps', [op('withUserNamespace', [], [])]),
    c('cgroup path', [op('withCgroup', '/kubepods/besteffort/pod1/c1')]),
    c('cgroup path cleared', [op('withCgroup', '')]),
    c('namespaced cgroup', [op('withCgroup', 'system.slice:x:y'), op('withNamespacedCgroup')], { namespace: 'k8s.io', id: 'abc' }),
    c('masked and readonly paths', [op('withMaskedPaths', ['/proc/kcore', '/x']), op('withReadonlyPaths', ['/proc/sys'])]),
    c('masked and readonly paths cleared', [op('withMaskedPaths', []), op('withReadonlyPaths', [])]),
    c('sysctls', [op('withSysctls', { 'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1' }), op('withSysctls', { 'net.ipv4.ip_forward': '0' })]),
    c('sysctls empty', [op('withSysctls', {})]),
    c('seccomp unconfined', [op('withDefaultSeccompProfile'), op('withSeccompUnconfined')]),

    // Resources.
    c('memory', [op('withMemoryLimit', 268435456), op('withMemorySwap', -1)]),
    c('cpu', [op('withCPUShares', 512), op('withCPUs', '0-1'), op('withCPUsMems', '0'), op('withCPUCFS', 150000, 100000)]),
    c('cpu cleared set', [op('withCPUs', '')]),
    c('pids', [op('withPidsLimit', 100)]),
    c('pids zero', [op('withPidsLimit', 0)]),

    // Capabilities and privileged.
    c('capabilities', [op('withCapabilities', ['CAP_NET_ADMIN', 'CAP_CHOWN'])]),
    c('capabilities none', [op('withCapabilities', [])]),
    c('capabilities added', [op('withAddedCapabilities', ['CAP_SYS_ADMIN', 'CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'])]),
    c('capabilities dropped', [op('withDroppedCapabilities', ['CAP_NET_RAW', 'CAP_MKNOD', 'CAP_NOT_THERE'])]),
    c('capabilities all dropped', [op('withDroppedCapabilities', [...oci.DEFAULT_UNIX_CAPS])]),
    c('capabilities ambient', [op('withAmbientCapabilities', ['CAP_NET_BIND_SERVICE'])]),
    c('capabilities all known', [op('withAllKnownCapabilities')]),
    c('capabilities all known then added', [op('withAllKnownCapabilities'), op('withAddedCapabilities', ['CAP_X']), op('withDroppedCapabilities', ['CAP_CHOWN'])]),
    c('capabilities all current', [op('withAllCurrentCapabilities')]),
    c('privileged', [op('withDefaultSeccompProfile'), op('withApparmorProfile', 'p'), op('withPrivileged')]),
    c('privileged like ctr', [op('withPrivileged'), op('withAllDevicesAllowed')]),

    // Devices.
    c('devices directory', [op('withDevices', `@dev`, '', 'rwm')]),
    c('devices directory renamed', [op('withDevices', `@dev`, '/dev/ctr', 'rw')]),
    c('device file renamed', [op('withDevices', `@dev/big`, '/dev/mine', 'r')]),
    c('device fifo file', [op('withDevices', `@dev/fifo`, '', '')]),
    c('device missing', [op('withDevices', `@dev/none`, '', 'rwm')]),
    c('device not a device', [op('withDevices', `@dev/regular`, '', 'rwm')]),
    c('linux device', [op('withLinuxDevice', `@dev/loopx`, 'rwm'), op('withLinuxDevice', `@dev/null`, '')]),
    c('linux device symlink', [op('withLinuxDevice', `@dev/link`, 'rwm')]),
    c('linux devices', [op('withLinuxDevices', [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }, { path: '/dev/x', type: 'b', major: 0, minor: 0 }])]),
    c('all devices allowed', [op('withAllDevicesAllowed')]),
    c('parent cgroup devices', [op('withParentCgroupDevices')]),
    c('default unix devices', [op('withDefaultUnixDevices')]),

    // The default seccomp profile over different capability sets.
    c('seccomp default', [op('withDefaultSeccompProfile')]),
    c('seccomp no caps', [op('withCapabilities', []), op('withDefaultSeccompProfile')]),
    c('seccomp all known caps', [op('withAllKnownCapabilities'), op('withDefaultSeccompProfile')]),
    c('seccomp all current caps', [op('withAllCurrentCapabilities'), op('withDefaultSeccompProfile')]),
    c('seccomp cap groups', [op('withAddedCapabilities', seccompCaps), op('withDroppedCapabilities', ['CAP_SYS_CHROOT']), op('withDefaultSeccompProfile')]),
    c('seccomp each cap', [op('withCapabilities', [...oci.KNOWN_CAPABILITIES].reverse()), op('withDefaultSeccompProfile')]),
    c('seccomp duplicate caps', [op('withCapabilities', ['CAP_SYS_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT']), op('withDefaultSeccompProfile')]),

    // Seccomp profiles from files.
    ...Object.keys(PROFILES).map((f) => c(`seccomp profile ${f}`, [op('withSeccompProfile', `@root/${f}`)], { errorPrefixOnly: f.startsWith('bad') || f === 'not-json.json' || f === 'array.json' })),
    c('seccomp profile missing', [op('withSeccompProfile', '@root/none.json')]),

    // containerd's CRI options.
    c('cri args: image entrypoint and cmd', [op('withCRIProcessArgs', [], [], IMAGE)]),
    c('cri args: args replace cmd', [op('withCRIProcessArgs', [], ['-t'], IMAGE)]),
    c('cri args: command replaces both', [op('withCRIProcessArgs', ['/bin/sh'], [], IMAGE)]),
    c('cri args: command and args', [op('withCRIProcessArgs', ['/bin/sh'], ['-c', 'x'], IMAGE)]),
    c('cri args: empty entrypoint', [op('withCRIProcessArgs', [], [], { Entrypoint: [''], Cmd: ['run'] })]),
    c('cri args: nothing', [op('withCRIProcessArgs', [], [], { Entrypoint: [''] })]),
    c('cri args: nothing at all', [op('withCRIProcessArgs', [], [], {})]),
    c('cri caps: none', [op('withCRICapabilities', null, [...oci.KNOWN_CAPABILITIES])]),
    c('cri caps: add and drop', [op('withCRICapabilities', { add: ['sys_admin', 'NET_ADMIN'], drop: ['chown', 'Kill'] }, [...oci.KNOWN_CAPABILITIES])]),
    c('cri caps: add all but one', [op('withCRICapabilities', { add: ['all'], drop: ['CHOWN'] }, ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'])]),
    c('cri caps: drop all but one', [op('withCRICapabilities', { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, [...oci.KNOWN_CAPABILITIES])]),
    c('cri caps: add all drop all', [op('withCRICapabilities', { add: ['ALL'], drop: ['all'] }, [...oci.KNOWN_CAPABILITIES]), op('withDefaultSeccompProfile')]),
    c('cri caps: empty lists', [op('withCapabilities', []), op('withCRICapabilities', {}, [])]),
    c('cri additional gids merged', [op('withUser', 'alice'), op('withSupplementalGroups', [7, 50]), op('withCRIAdditionalGIDs', 'alice')]),
    c('cri additional gids nothing', [op('withUIDGID', 0, 0), op('withCRIAdditionalGIDs', '4242')], { rootfs: 'empty' }),
    c('cri additional gids missing rootfs', [op('withCRIAdditionalGIDs', 'x')], { rootfs: undefined }),
    c('cri without namespace', [op('withLinuxNamespace', { type: 'network', path: '/x' }), op('withoutNamespace', 'network'), op('withoutNamespace', 'cgroup')]),
    c('cri without every namespace', ['pid', 'ipc', 'uts', 'mount', 'network'].map((t) => op('withoutNamespace', t))),
    ...['POD', 'CONTAINER', 'NODE', 'TARGET'].map((m) => c(`cri pod namespaces ${m}`, [op('withPodNamespaces', m, 100, 200)])),
    c('cri sandbox settings', [op('withAmbientCapabilities', ['CAP_KILL']), op('withoutAmbientCapabilities'), op('withDefaultSeccompProfile'), op('withApparmorProfile', 'x'), op('withoutDefaultSecuritySettings'), op('withDisabledCgroups'), op('withDefaultSandboxShares')]),
    c('cri resources none', [op('withCRIResources', null)]),
    c('cri resources empty', [op('withCRIResources', {})]),
    c('cri resources', [op('withCRIResources', { cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 512, memoryLimitInBytes: 268435456, oomScoreAdj: 5, cpusetCpus: '0', cpusetMems: '0', unified: { 'memory.high': '1000000' } })]),
    c('cri resources memory and swap', [op('withCRIResources', { memoryLimitInBytes: 268435456, memorySwapLimitInBytes: 536870912 })]),
    c('cri resources over earlier ones', [op('withMemoryLimit', 1), op('withCPUShares', 3), op('withCRIResources', { memoryLimitInBytes: 1048576, unified: { a: 'b' } }), op('withCRIResources', { unified: { c: 'd' } })]),
    c('cri resources hugepages by default', [op('withCRIResources', { hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] })]),
    c('cri resources hugepages tolerated', [op('withCRIResources', { hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] }, { disableHugetlbController: false, tolerateMissingHugetlbController: true })]),
    c('cri resources hugepages strict', [op('withCRIResources', { hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] }, { disableHugetlbController: false, tolerateMissingHugetlbController: false })]),
    c('cri resources strict without hugepages', [op('withCRIResources', { cpuShares: 2 }, { disableHugetlbController: false, tolerateMissingHugetlbController: false })]),
    c('cri mounts', [
      op('withCRIMounts', [
        { containerPath: '/data/deep/', hostPath: '@root/vol/deep', readonly: true },
        { containerPath: '/a/b/c', hostPath: '@root/vol/b' },
        { containerPath: '/data', hostPath: '@root/vol/a', propagation: 'PROPAGATION_PRIVATE' },
        { containerPath: '/x', hostPath: '@root/vol/link', selinuxRelabel: true },
        { containerPath: '/etc/hosts', hostPath: '@root/vol/file', readonly: true },
      ], [
        { containerPath: '/etc/hosts/', hostPath: '@root/vol/b' },
        { containerPath: '/dev/shm', hostPath: '@root/vol/a' },
        { containerPath: '/sys/fs/cgroup', hostPath: '@root/vol/b', readonly: true },
      ]),
    ]),
    c('cri mounts none', [op('withCRIMounts', [], [])]),
    c('cri mounts /dev volume', [op('withCRIMounts', [{ containerPath: '/dev', hostPath: '@root/vol/a' }])]),
    c('cri mounts bidirectional', [op('withCRIMounts', [{ containerPath: '/s', hostPath: '@root/vol/shared', propagation: 'PROPAGATION_BIDIRECTIONAL' }])]),
    c('cri mounts host to container on a slave', [op('withCRIMounts', [{ containerPath: '/l', hostPath: '@root/vol/slave', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }])]),
    c('cri mounts host to container on shared, bidirectional wins', [
      op('withCRIMounts', [
        { containerPath: '/l', hostPath: '@root/vol/shared', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
        { containerPath: '/s/t', hostPath: '@root/vol/shared', propagation: 'PROPAGATION_BIDIRECTIONAL' },
        { containerPath: '/m', hostPath: '@root/vol/slave', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ]),
    ]),
    c('cri mounts bidirectional on a slave', [op('withCRIMounts', [{ containerPath: '/s', hostPath: '@root/vol/slave', propagation: 'PROPAGATION_BIDIRECTIONAL' }])]),
    c('cri mounts host to container on private', [op('withCRIMounts', [{ containerPath: '/s', hostPath: '@root/vol/private', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }])]),
    c('cri mounts missing source created', [op('withCRIMounts', [{ containerPath: '/new', hostPath: '@root/vol/new/sub' }])], { creates: ['@root/vol/new'] }),
    c('cri mounts source under a file', [op('withCRIMounts', [{ containerPath: '/new', hostPath: '@root/vol/file/sub' }])]),
    c('cri devices', [
      op('withCRIDevices', [
        { containerPath: '/dev/mine', hostPath: '@dev/big', permissions: 'rw' },
        { containerPath: '/dev/all', hostPath: '@dev', permissions: 'rwm' },
        { containerPath: '/dev/n', hostPath: '@dev/link', permissions: 'r' },
      ]),
    ]),
    c('cri devices owned by the run-as user', [op('withCRIDevices', [{ containerPath: '/dev/mine', hostPath: '@dev/big', permissions: 'rw' }, { containerPath: '/dev/n', hostPath: '@dev/null', permissions: 'rw' }], { runAsUser: 1000, runAsGroup: 0 })]),
    c('cri devices ownership without run-as', [op('withCRIDevices', [{ containerPath: '/dev/n', hostPath: '@dev/big', permissions: 'rw' }], {})]),
    c('cri devices none', [op('withCRIDevices', [])]),
    c('cri devices missing', [op('withCRIDevices', [{ containerPath: '/dev/x', hostPath: '@dev/none', permissions: 'rw' }])]),
    c('cri relative root', [op('withRelativeRoot', 'rootfs2')]),
    c('cri without root', [op('withoutRoot')]),

    // Combinations as CRI and ctr build them.
    c('cri-like container', [
      op('withImageConfig', IMAGE),
      op('withProcessArgs', ['/bin/app', '--serve']),
      op('withEnv', ['POD=web', 'LANG']),
      op('withProcessCwd', '/app'),
      op('withHostname', 'pod-1'),
      op('withMounts', [{ destination: '/etc/hosts', type: 'bind', source: '/var/lib/berth/pod/hosts', options: ['rbind', 'rprivate', 'rw'] }]),
      op('withLinuxNamespace', { type: 'network', path: '/proc/100/ns/net' }),
      op('withLinuxNamespace', { type: 'ipc', path: '/proc/100/ns/ipc' }),
      op('withLinuxNamespace', { type: 'uts', path: '/proc/100/ns/uts' }),
      op('withUser', '1001:staff'),
      op('withAdditionalGIDs', '1001'),
      op('withSupplementalGroups', [29]),
      op('withDroppedCapabilities', ['CAP_NET_RAW']),
      op('withAddedCapabilities', ['CAP_SYS_PTRACE']),
      op('withDefaultSeccompProfile'),
      op('withRootFSReadonly'),
      op('withMaskedPaths', ['/proc/kcore']),
      op('withSysctls', { 'net.core.somaxconn': '1024' }),
      op('withOOMScoreAdj', 1000, true),
      op('withCPUShares', 2),
      op('withCPUCFS', 50000, 100000),
      op('withMemoryLimit', 134217728),
      op('withCgroup', '/kubepods/pod1/c1'),
      op('withAnnotations', { 'io.kubernetes.cri.container-type': 'container' }),
    ], { namespace: 'k8s.io', id: 'c0ffee' }),
    c('ctr-run-like container', [
      op('withImageConfig', { Env: ['PATH=/usr/bin:/bin'], Cmd: ['sh'] }),
      op('withProcessArgs', ['sh', '-c', 'top']),
      op('withTTY'),
      op('withEnv', ['FOO=bar']),
      op('withHostNamespace', 'network'),
      op('withHostHostsFile'),
      op('withHostResolvconf'),
      op('withMemoryLimit', 67108864),
      op('withCPUCFS', 100000, 100000),
      op('withUser', 'alice'),
      op('withPrivileged'),
      op('withAllDevicesAllowed'),
    ]),
  ];
}

/** '@dev' in a parameter is the device directory this test made, '@root' its temp root. */
function resolveParam(p: unknown): unknown {
  if (Array.isArray(p)) return p.map(resolveParam);
  if (typeof p === 'object' && p !== null) return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, resolveParam(v)]));
  if (typeof p !== 'string') return p;
  if (p.startsWith('@dev')) return devDir + p.slice(4);
  if (p.startsWith('@root')) return root.path + p.slice(5);
  return p;
}

function resolveParams(tc: Case): Case {
  return {
    ...tc,
    opts: tc.opts.map((o) => ({ op: o.op, params: (o.params ?? []).map(resolveParam) })),
  };
}

async function runGo(input: Case[]): Promise<Map<string, GoLine>> {
  const wire = input.map((tc) => ({ ...tc, rootfs: tc.rootfs ? rootfs[tc.rootfs] : '' }));
  const r = await runGoProgram(goBin, [], { input: JSON.stringify(wire), timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  const out = new Map<string, GoLine>();
  for (const line of r.lines) out.set((line as unknown as GoLine).name, line as unknown as GoLine);
  return out;
}

/** src/oci's answer for a case: the spec as JSON text would carry it, or the error's message. */
async function runOurs(tc: Case): Promise<GoLine> {
  const opts = tc.opts.map((o) => {
    const make = OPTIONS[o.op];
    if (!make) throw new Error(`no option ${o.op}`);
    return make(o.params ?? []);
  });
  try {
    const spec = await oci.generateSpec({ namespace: tc.namespace, containerId: tc.id, rootfs: tc.rootfs ? rootfs[tc.rootfs] : undefined }, opts);
    return { name: tc.name, spec: JSON.parse(JSON.stringify(spec)) as unknown };
  } catch (err) {
    return { name: tc.name, error: (err as Error).message };
  }
}

const ALL = cases();
let goResults: Map<string, GoLine>;

describe('src/oci against containerd 1.6.20’s oci package', () => {
  beforeAll(async () => {
    root = makeTempRoot('berth-ocispec-');
    makeRootfs();
    makeDevices();
    for (const [f, text] of Object.entries(PROFILES)) fs.writeFileSync(path.join(root.path, f), text);
    makeVolumes();
    goBin = await buildGoProgram('ocispec');
    goResults = await runGo(ALL.map(resolveParams));
    for (const tc of ALL) for (const dir of tc.creates ?? []) fs.rmSync(resolveParam(dir) as string, { recursive: true, force: true });
  }, 600_000);

  afterAll(async () => {
    await root?.cleanup();
  });

  it('has a distinct name for every case and an option for every name', () => {
    expect(new Set(ALL.map((tc) => tc.name)).size).toBe(ALL.length);
    for (const tc of ALL) for (const o of tc.opts) expect(OPTIONS[o.op], o.op).toBeDefined();
  });

  it.each(ALL.map((tc) => [tc.name, tc] as const))('%s', async (_name, tc) => {
    const go = goResults.get(tc.name);
    expect(go, `Go printed no line for ${tc.name}`).toBeDefined();
    expect(go?.error ?? '').not.toMatch(/^panic:/);
    const ours = await runOurs(resolveParams(tc));
    for (const dir of tc.creates ?? []) expect(fs.statSync(resolveParam(dir) as string).isDirectory()).toBe(true);
    if (tc.errorPrefixOnly && go?.error !== undefined && ours.error !== undefined) {
      const upToDecoder = (e: string) => e.slice(0, e.indexOf('": ') + 3);
      expect(upToDecoder(ours.error)).toBe(upToDecoder(go.error));
      expect(upToDecoder(go.error)).toMatch(/^decoding seccomp profile failed ".*": $/);
      return;
    }
    expect(ours).toStrictEqual(go);
  });

  it('the cases exercise what they claim: containerd fails exactly the cases meant to fail', () => {
    // Guards against a comparison that passes because both sides fail (a fixture missing).
    const errors = [...goResults.values()].filter((l) => l.error !== undefined).map((l) => l.name);
    expect(errors.sort()).toEqual(
      [
        'no namespace',
        'image user unknown',
        'image without rootfs',
        'user "nobody"',
        'user "nobody:staff"',
        'user "alice:nogroup"',
        'user "a:b:c"',
        'user "99999999999999999999"',
        'user without rootfs',
        'user name in empty rootfs',
        'user in a symlink loop',
        'userID in a symlink loop',
        'user where /etc is a file',
        'userID where /etc is a file',
        'additional gids where /etc is a file',
        'username unknown',
        'additional gids without rootfs',
        'append groups unknown',
        'append groups empty rootfs',
        'dev shm size without shm',
        'device missing',
        'device not a device',
        'linux device symlink',
        'seccomp profile bad-type.json',
        'seccomp profile bad-args.json',
        'seccomp profile not-json.json',
        'seccomp profile array.json',
        'seccomp profile missing',
        'cri args: nothing',
        'cri args: nothing at all',
        'cri additional gids missing rootfs',
        'cri mounts bidirectional on a slave',
        'cri mounts host to container on private',
        'cri mounts source under a file',
        'cri devices missing',
        // Hugepage limits fail only on a host without the hugetlb controller.
        // (containerd then fails any container with resources, hugepage limits or not).
        ...(oci.hugetlbControllerPresent() ? [] : ['cri resources hugepages strict', 'cri resources strict without hugepages']),
      ].sort(),
    );
    const seccomp = goResults.get('seccomp default')?.spec as { linux?: { seccomp?: { syscalls?: unknown[] } } };
    expect(seccomp.linux?.seccomp?.syscalls?.length).toBeGreaterThan(5);
    const devices = goResults.get('devices directory')?.spec as { linux?: { devices?: Array<{ path: string }> } };
    expect(devices.linux?.devices?.map((d) => path.basename(d.path))).toEqual(['big', 'loopx', 'null', 'tty9']);
  });

  it('host devices: the same list as containerd’s HostDevices of the same /dev', async () => {
    // /dev can change under the test (another test's loop device or pty): compare a listing
    // of ours taken between two of Go's that agree with each other.
    const tc: Case = { name: 'host devices', namespace: 'default', id: 'c1', opts: [{ op: 'withHostDevices' }, { op: 'withDefaultUnixDevices' }] };
    let last: { before?: GoLine; ours: GoLine; after?: GoLine } | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = (await runGo([tc])).get(tc.name);
      const ours = await runOurs(tc);
      const after = (await runGo([tc])).get(tc.name);
      last = { before, ours, after };
      if (JSON.stringify(before) === JSON.stringify(after)) break;
    }
    expect(last?.before).toEqual(last?.after);
    expect(last?.ours).toEqual(last?.before);
    const devs = (last?.ours.spec as { linux?: { devices?: unknown[] } }).linux?.devices ?? [];
    expect(devs.length).toBeGreaterThan(3); // /dev/null, zero, random, urandom… at least
  });
});
