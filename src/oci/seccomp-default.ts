// containerd 1.6's default seccomp profile (contrib/seccomp DefaultProfile), built for the
// spec it goes into: errno (EPERM) for anything not listed; the base allow list; personality
// only for the five persona values containers use; ptrace on kernels >= 4.8; the extra calls
// of this architecture; then, for each capability in process.capabilities.bounding (in that
// order), the calls it governs; without CAP_SYS_ADMIN, clone only without namespace flags and
// clone3 answering ENOSYS (so libc falls back to clone, which the filter can inspect).
import * as os from 'node:os';
import type { SpecOpt } from './spec-opt';
import { ensureLinux } from './spec-sections';
import type { LinuxSeccomp, LinuxSyscall, Spec } from './spec-types';

function names(list: string): string[] {
  return list.split(/\s+/).filter((n) => n !== '');
}

/** Allowed for every container (349 names, in containerd's order). */
const BASE_ALLOWED = names(`
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
  dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64
  fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs
  fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd
  getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
  getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
  getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
  get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
  inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
  io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
  io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
  lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr
  lstat lstat64 madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
  mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
  mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv
  msgsnd msync munlock munlockall munmap nanosleep newfstatat _newselect open openat openat2 pause
  pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64
  prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
  pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
  rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
  rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
  sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
  sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
  sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
  setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
  setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
  set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
  sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair splice stat
  stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
  timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
  timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
  times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
  utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`);

/** personality(2) personas allowed: PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, query. */
const PERSONALITY_VALUES = [0x0, 0x0008, 0x20000, 0x20008, 0xffffffff];

/** The libseccomp architectures of each Node process.arch, as containerd lists them per GOARCH. */
const ARCHITECTURES: Readonly<Record<string, string[]>> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'],
  s390x: ['SCMP_ARCH_S390', 'SCMP_ARCH_S390X'],
  riscv64: ['SCMP_ARCH_RISCV64'],
};

/** Calls allowed on one architecture only (Node's process.arch names). */
const ARCH_ALLOWED: Readonly<Record<string, string[]>> = {
  ppc64: names('sync_file_range2 swapcontext'),
  arm: names('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
  arm64: names('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
  x64: names('arch_prctl modify_ldt'),
  ia32: names('modify_ldt'),
  s390x: names('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'),
  riscv64: names('riscv_flush_icache'),
};

/** Calls each bounding capability makes allowed. */
const CAPABILITY_ALLOWED: Readonly<Record<string, string[]>> = {
  CAP_DAC_READ_SEARCH: names('open_by_handle_at'),
  CAP_SYS_ADMIN: names(`
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
    mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd
    setdomainname sethostname setns syslog umount umount2 unshare`),
  CAP_SYS_BOOT: names('reboot'),
  CAP_SYS_CHROOT: names('chroot'),
  CAP_SYS_MODULE: names('delete_module init_module finit_module'),
  CAP_SYS_PACCT: names('acct'),
  CAP_SYS_PTRACE: names('kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace'),
  CAP_SYS_RAWIO: names('iopl ioperm'),
  CAP_SYS_TIME: names('settimeofday stime clock_settime clock_settime64'),
  CAP_SYS_TTY_CONFIG: names('vhangup'),
  CAP_SYS_NICE: names('get_mempolicy mbind set_mempolicy'),
  CAP_SYSLOG: names('syslog'),
  CAP_BPF: names('bpf'),
  CAP_PERFMON: names('perf_event_open'),
};

/** CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP. */
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000;

const ENOSYS = 38;

function allow(list: string[]): LinuxSyscall {
  return { names: [...list], action: 'SCMP_ACT_ALLOW' };
}

/** "5.10.0-21-amd64" → [5, 10]; what containerd's kernelversion reads (%d.%d). */
function kernelVersion(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export interface DefaultProfileHost {
  /** Node's process.arch of the machine the container runs on (default: this one). */
  arch?: string;
  /** The kernel release, as uname -r prints it (default: this one's). */
  kernelRelease?: string;
}

/** containerd's seccomp.DefaultProfile for spec (call it after the capabilities are final). */
export function defaultSeccompProfile(spec: Spec, host: DefaultProfileHost = {}): LinuxSeccomp {
  const arch = host.arch ?? process.arch;
  const syscalls: LinuxSyscall[] = [allow(BASE_ALLOWED)];
  for (const value of PERSONALITY_VALUES) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  const kernel = kernelVersion(host.kernelRelease ?? os.release());
  if (kernel && (kernel[0] > 4 || (kernel[0] === 4 && kernel[1] >= 8))) syscalls.push(allow(['ptrace']));
  const archAllowed = ARCH_ALLOWED[arch];
  if (archAllowed) syscalls.push(allow(archAllowed));

  let admin = false;
  for (const cap of spec.process?.capabilities?.bounding ?? []) {
    if (cap === 'CAP_SYS_ADMIN') admin = true;
    const list = CAPABILITY_ALLOWED[cap];
    if (list) syscalls.push(allow(list));
  }
  if (!admin) {
    // clone's flags are argument 0, except on s390 where the stack comes first.
    const index = arch === 's390x' ? 1 : 0;
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls };
  const architectures = ARCHITECTURES[arch] ?? [];
  if (architectures.length > 0) profile.architectures = [...architectures];
  return profile;
}

/**
 * Sets containerd's default seccomp profile (containerd's seccomp.WithDefaultProfile); it
 * depends on the bounding capabilities, so it goes after the options that set them.
 */
export const withDefaultSeccompProfile: SpecOpt = (_ctx, spec) => {
  ensureLinux(spec).seccomp = defaultSeccompProfile(spec);
};
