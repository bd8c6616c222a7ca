/*
 * berth_native: the Linux syscalls Node lacks, as a plain C N-API addon.
 *
 * Every failing syscall throws an Error whose .code is the errno name
 * ("EPERM"), .errno the positive errno number, .syscall the call's name,
 * and, where there are paths, .path (and .dest) like Node's fs errors.
 * Message shape: "mount(/src, /dst): EPERM: Operation not permitted".
 *
 * Everything here is synchronous except watchFd, which registers a uv_poll
 * handle on the calling environment's event loop, and removeTree, which runs on
 * libuv's thread pool.
 */
#include <node_api.h>
#include <uv.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
/* idtype_t is an enum in glibc; P_PIDFD (Linux 5.4) is 3. */
#define BERTH_P_PIDFD ((idtype_t)3)
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef MS_LAZYTIME
#define MS_LAZYTIME (1 << 25)
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* ------------------------------------------------------------------------ */
/* error helpers                                                            */

/* Throw a generic Error for a failed N-API call unless one is pending. */
static void throw_napi_failure(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  char msg[256];
  bool pending = false;
  napi_get_last_error_info(env, &info);
  snprintf(msg, sizeof msg, "berth_native: %s: %s", what,
           (info && info->error_message) ? info->error_message : "N-API call failed");
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, msg);
}

/* For functions without resources to release. */
#define NAPI_CALL(env, call)                         \
  do {                                               \
    if ((call) != napi_ok) {                         \
      throw_napi_failure((env), #call);              \
      return NULL;                                   \
    }                                                \
  } while (0)

/* For functions that release resources at label `out`. */
#define NAPI_GOTO(env, call)                         \
  do {                                               \
    if ((call) != napi_ok) {                         \
      throw_napi_failure((env), #call);              \
      goto out;                                      \
    }                                                \
  } while (0)

static void set_str_prop(napi_env env, napi_value obj, const char *key, const char *val) {
  napi_value v;
  if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

static void set_int_prop(napi_env env, napi_value obj, const char *key, int64_t val) {
  napi_value v;
  if (napi_create_int64(env, val, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

/*
 * Build an errno Error. p1/p2 are the call's interesting arguments (paths or
 * descriptions); either may be NULL.
 */
static napi_value make_errno_error(napi_env env, int err, const char *syscall_name,
                                   const char *p1, const char *p2) {
  char desc_buf[256];
  const char *name = strerrorname_np(err);
  const char *desc = strerror_r(err, desc_buf, sizeof desc_buf);
  char *msg = NULL;
  int n;
  napi_value code, message, error = NULL;

  if (name == NULL) name = "EUNKNOWN";
  if (p1 && p2)
    n = asprintf(&msg, "%s(%s, %s): %s: %s", syscall_name, p1, p2, name, desc);
  else if (p1)
    n = asprintf(&msg, "%s(%s): %s: %s", syscall_name, p1, name, desc);
  else
    n = asprintf(&msg, "%s: %s: %s", syscall_name, name, desc);
  if (n < 0) msg = NULL;

  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg ? msg : name, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok) {
    free(msg);
    return NULL;
  }
  free(msg);
  set_int_prop(env, error, "errno", err);
  set_str_prop(env, error, "syscall", syscall_name);
  if (p1) set_str_prop(env, error, "path", p1);
  if (p2) set_str_prop(env, error, "dest", p2);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall_name, const char *p1,
                              const char *p2) {
  napi_value e = make_errno_error(env, err, syscall_name, p1, p2);
  if (e != NULL)
    napi_throw(env, e);
  else
    throw_napi_failure(env, "create error");
  return NULL;
}

static napi_value throw_type_error(napi_env env, const char *fmt, const char *arg) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, arg);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* argument helpers                                                         */

/*
 * A path-like argument: a string (UTF-8) or a Buffer (raw bytes, for file
 * names that are not valid UTF-8). Embedded NUL bytes are rejected rather
 * than silently truncating the path. When nullable, undefined/null yield
 * *out = NULL. On success the caller frees *out.
 */
static bool get_cstr(napi_env env, napi_value v, const char *argname, bool nullable, char **out) {
  napi_valuetype t;
  size_t len = 0;
  bool is_buffer = false;
  char *s;

  *out = NULL;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env, "napi_typeof");
    return false;
  }
  if (t == napi_undefined || t == napi_null) {
    if (nullable) return true;
    throw_type_error(env, "The \"%s\" argument must be a string or Buffer", argname);
    return false;
  }
  if (t == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      throw_napi_failure(env, "napi_get_value_string_utf8");
      return false;
    }
    s = malloc(len + 1);
    if (s == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      return false;
    }
    if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
      free(s);
      throw_napi_failure(env, "napi_get_value_string_utf8");
      return false;
    }
  } else {
    void *data = NULL;
    if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) {
      throw_type_error(env, "The \"%s\" argument must be a string or Buffer", argname);
      return false;
    }
    if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
      throw_napi_failure(env, "napi_get_buffer_info");
      return false;
    }
    s = malloc(len + 1);
    if (s == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      return false;
    }
    if (len) memcpy(s, data, len);
    s[len] = '\0';
  }
  if (strlen(s) != len) {
    free(s);
    char msg[256];
    snprintf(msg, sizeof msg, "The \"%s\" argument must not contain null bytes", argname);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  *out = s;
  return true;
}

/* A number (integral) or BigInt argument. When optional, undefined yields def. */
static bool get_i64(napi_env env, napi_value v, const char *argname, bool optional, int64_t def,
                    int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env, "napi_typeof");
    return false;
  }
  if (t == napi_undefined && optional) {
    *out = def;
    return true;
  }
  if (t == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) {
      throw_napi_failure(env, "napi_get_value_double");
      return false;
    }
    if (d != d || d != (double)(int64_t)d) {
      char msg[256];
      snprintf(msg, sizeof msg, "The \"%s\" argument must be an integer", argname);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return false;
    }
    *out = (int64_t)d;
    return true;
  }
  if (t == napi_bigint) {
    bool lossless = false;
    if (napi_get_value_bigint_int64(env, v, out, &lossless) != napi_ok) {
      throw_napi_failure(env, "napi_get_value_bigint_int64");
      return false;
    }
    if (!lossless) {
      char msg[256];
      snprintf(msg, sizeof msg, "The \"%s\" argument is out of range", argname);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return false;
    }
    return true;
  }
  throw_type_error(env, "The \"%s\" argument must be a number", argname);
  return false;
}

static bool get_int(napi_env env, napi_value v, const char *argname, bool optional, int def,
                    int *out) {
  int64_t x;
  if (!get_i64(env, v, argname, optional, def, &x)) return false;
  if (x < INT32_MIN || x > (int64_t)UINT32_MAX) {
    char msg[256];
    snprintf(msg, sizeof msg, "The \"%s\" argument is out of range", argname);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  *out = (int)(uint32_t)(x & 0xffffffff);
  return true;
}

/* Bytes argument: Buffer or string. */
static bool get_bytes(napi_env env, napi_value v, const char *argname, bool optional, void **data,
                      size_t *len, char **owned) {
  napi_valuetype t;
  bool is_buffer = false;
  *data = NULL;
  *len = 0;
  *owned = NULL;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env, "napi_typeof");
    return false;
  }
  if ((t == napi_undefined || t == napi_null) && optional) return true;
  if (t == napi_string) {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
      throw_napi_failure(env, "napi_get_value_string_utf8");
      return false;
    }
    *owned = malloc(n + 1);
    if (*owned == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      return false;
    }
    if (napi_get_value_string_utf8(env, v, *owned, n + 1, &n) != napi_ok) {
      free(*owned);
      *owned = NULL;
      throw_napi_failure(env, "napi_get_value_string_utf8");
      return false;
    }
    *data = *owned;
    *len = n;
    return true;
  }
  if (napi_is_buffer(env, v, &is_buffer) == napi_ok && is_buffer) {
    if (napi_get_buffer_info(env, v, data, len) != napi_ok) {
      throw_napi_failure(env, "napi_get_buffer_info");
      return false;
    }
    return true;
  }
  throw_type_error(env, "The \"%s\" argument must be a Buffer or string", argname);
  return false;
}

#define ARGS(n)                                                         \
  size_t argc = (n);                                                    \
  napi_value argv[(n)];                                                 \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

static napi_value undefined_value(napi_env env) {
  napi_value u = NULL;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value null_value(napi_env env) {
  napi_value u = NULL;
  napi_get_null(env, &u);
  return u;
}

/* ------------------------------------------------------------------------ */
/* mount(source, target, fstype, flags, data, chdir?)                       */

struct mount_req {
  const char *source, *target, *fstype, *data, *dir;
  unsigned long flags;
  int err;
  const char *failed;
};

/*
 * Runs on its own thread: unshare(CLONE_FS) gives this thread a private cwd,
 * so chdir here cannot disturb the JS thread or libuv's threadpool, which
 * resolve relative paths against the process cwd. This is how relative
 * overlay lowerdirs (containerd's "mount from a common parent" trick) work
 * without forking.
 */
static void *mount_in_dir_thread(void *arg) {
  struct mount_req *r = arg;
  if (unshare(CLONE_FS) != 0) {
    r->err = errno;
    r->failed = "unshare";
    return NULL;
  }
  if (chdir(r->dir) != 0) {
    r->err = errno;
    r->failed = "chdir";
    return NULL;
  }
  if (mount(r->source, r->target, r->fstype, r->flags, r->data) != 0) {
    r->err = errno;
    r->failed = "mount";
  }
  return NULL;
}

static int mount_in_dir(struct mount_req *r) {
  pthread_t th;
  sigset_t all, old;
  int rc;
  /* The helper thread inherits a full signal mask: signals go elsewhere. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&th, NULL, mount_in_dir_thread, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    r->err = rc;
    r->failed = "pthread_create";
    return -1;
  }
  pthread_join(th, NULL);
  return r->err ? -1 : 0;
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(6);
  char *source = NULL, *target = NULL, *fstype = NULL, *data = NULL, *dir = NULL;
  int flags = 0;
  napi_value ret = NULL;

  if (!get_cstr(env, argv[0], "source", true, &source)) goto out;
  if (!get_cstr(env, argv[1], "target", false, &target)) goto out;
  if (!get_cstr(env, argv[2], "fstype", true, &fstype)) goto out;
  if (!get_int(env, argv[3], "flags", true, 0, &flags)) goto out;
  if (!get_cstr(env, argv[4], "data", true, &data)) goto out;
  if (!get_cstr(env, argv[5], "chdir", true, &dir)) goto out;

  if (dir != NULL) {
    struct mount_req r = {source, target, fstype, data, dir, (unsigned long)(uint32_t)flags, 0, NULL};
    if (mount_in_dir(&r) != 0) {
      if (strcmp(r.failed, "mount") == 0)
        throw_errno(env, r.err, "mount", source ? source : "", target);
      else if (strcmp(r.failed, "chdir") == 0)
        throw_errno(env, r.err, "chdir", dir, NULL);
      else
        throw_errno(env, r.err, r.failed, NULL, NULL);
      goto out;
    }
  } else if (mount(source, target, fstype, (unsigned long)(uint32_t)flags, data) != 0) {
    throw_errno(env, errno, "mount", source ? source : "", target);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(source);
  free(target);
  free(fstype);
  free(data);
  free(dir);
  return ret;
}

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *target = NULL;
  int flags = 0;
  napi_value ret = NULL;
  if (!get_cstr(env, argv[0], "target", false, &target)) goto out;
  if (!get_int(env, argv[1], "flags", true, 0, &flags)) goto out;
  if (umount2(target, flags) != 0) {
    throw_errno(env, errno, "umount2", target, NULL);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(target);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* mknod(path, mode, major, minor)                                          */

static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *path = NULL;
  int mode = 0, major_ = 0, minor_ = 0;
  napi_value ret = NULL;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_int(env, argv[1], "mode", false, 0, &mode)) goto out;
  if (!get_int(env, argv[2], "major", true, 0, &major_)) goto out;
  if (!get_int(env, argv[3], "minor", true, 0, &minor_)) goto out;
  if (mknod(path, (mode_t)mode, makedev((unsigned)major_, (unsigned)minor_)) != 0) {
    throw_errno(env, errno, "mknod", path, NULL);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(path);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* xattrs (never following symlinks)                                        */

static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *path = NULL, *name = NULL, *owned = NULL;
  void *value = NULL;
  size_t len = 0;
  int flags = 0;
  napi_value ret = NULL;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_cstr(env, argv[1], "name", false, &name)) goto out;
  if (!get_bytes(env, argv[2], "value", false, &value, &len, &owned)) goto out;
  if (!get_int(env, argv[3], "flags", true, 0, &flags)) goto out;
  if (lsetxattr(path, name, value, len, flags) != 0) {
    throw_errno(env, errno, "lsetxattr", path, name);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(path);
  free(name);
  free(owned);
  return ret;
}

static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *path = NULL, *name = NULL, *buf = NULL;
  napi_value ret = NULL;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_cstr(env, argv[1], "name", false, &name)) goto out;
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0), got;
    if (size < 0) {
      if (errno == ENODATA) ret = null_value(env);
      else throw_errno(env, errno, "lgetxattr", path, name);
      goto out;
    }
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      goto out;
    }
    got = lgetxattr(path, name, buf, (size_t)size);
    if (got < 0) {
      int e = errno;
      free(buf);
      buf = NULL;
      if (e == ERANGE) continue; /* grew between the two calls */
      if (e == ENODATA) ret = null_value(env);
      else throw_errno(env, e, "lgetxattr", path, name);
      goto out;
    }
    NAPI_GOTO(env, napi_create_buffer_copy(env, (size_t)got, buf, NULL, &ret));
    break;
  }
out:
  free(path);
  free(name);
  free(buf);
  return ret;
}

static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *path = NULL, *buf = NULL;
  napi_value ret = NULL, arr = NULL;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  for (;;) {
    ssize_t size = llistxattr(path, NULL, 0), got;
    if (size < 0) {
      throw_errno(env, errno, "llistxattr", path, NULL);
      goto out;
    }
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL, NULL);
      goto out;
    }
    got = llistxattr(path, buf, (size_t)size);
    if (got < 0) {
      int e = errno;
      free(buf);
      buf = NULL;
      if (e == ERANGE) continue;
      throw_errno(env, e, "llistxattr", path, NULL);
      goto out;
    }
    NAPI_GOTO(env, napi_create_array(env, &arr));
    uint32_t idx = 0;
    for (ssize_t off = 0; off < got;) {
      size_t n = strnlen(buf + off, (size_t)(got - off));
      if (n > 0) {
        napi_value s;
        NAPI_GOTO(env, napi_create_string_utf8(env, buf + off, n, &s));
        NAPI_GOTO(env, napi_set_element(env, arr, idx++, s));
      }
      off += (ssize_t)n + 1;
    }
    ret = arr;
    break;
  }
out:
  free(path);
  free(buf);
  return ret;
}

static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *path = NULL, *name = NULL;
  napi_value ret = NULL;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_cstr(env, argv[1], "name", false, &name)) goto out;
  if (lremovexattr(path, name) != 0) {
    throw_errno(env, errno, "lremovexattr", path, name);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(path);
  free(name);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags)         */

static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(6);
  char *path = NULL;
  int64_t as = 0, an = 0, ms = 0, mn = 0;
  int flags = 0;
  napi_value ret = NULL;
  struct timespec ts[2];
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_i64(env, argv[1], "atimeSec", false, 0, &as)) goto out;
  if (!get_i64(env, argv[2], "atimeNsec", false, 0, &an)) goto out;
  if (!get_i64(env, argv[3], "mtimeSec", false, 0, &ms)) goto out;
  if (!get_i64(env, argv[4], "mtimeNsec", false, 0, &mn)) goto out;
  if (!get_int(env, argv[5], "flags", true, 0, &flags)) goto out;
  ts[0].tv_sec = (time_t)as;
  ts[0].tv_nsec = (long)an;
  ts[1].tv_sec = (time_t)ms;
  ts[1].tv_nsec = (long)mn;
  if (utimensat(AT_FDCWD, path, ts, flags) != 0) {
    throw_errno(env, errno, "utimensat", path, NULL);
    goto out;
  }
  ret = undefined_value(env);
out:
  free(path);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* process: subreaper, pidfd, waitid                                        */

static napi_value js_prctl_set_child_subreaper(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_valuetype t;
  bool on = true;
  NAPI_CALL(env, napi_typeof(env, argv[0], &t));
  if (t == napi_boolean) NAPI_CALL(env, napi_get_value_bool(env, argv[0], &on));
  if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1UL : 0UL, 0UL, 0UL, 0UL) != 0)
    return throw_errno(env, errno, "prctl", "PR_SET_CHILD_SUBREAPER", NULL);
  return undefined_value(env);
}

static napi_value js_prctl_get_child_subreaper(napi_env env, napi_callback_info info) {
  int v = 0;
  napi_value ret;
  if (prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&v, 0UL, 0UL, 0UL) != 0)
    return throw_errno(env, errno, "prctl", "PR_GET_CHILD_SUBREAPER", NULL);
  NAPI_CALL(env, napi_get_boolean(env, v != 0, &ret));
  return ret;
}

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pid = 0, flags = 0;
  long fd;
  napi_value ret;
  char desc[32];
  if (!get_int(env, argv[0], "pid", false, 0, &pid)) return NULL;
  if (!get_int(env, argv[1], "flags", true, 0, &flags)) return NULL;
  fd = syscall(__NR_pidfd_open, (pid_t)pid, (unsigned int)flags);
  if (fd < 0) {
    snprintf(desc, sizeof desc, "%d", pid);
    return throw_errno(env, errno, "pidfd_open", desc, NULL);
  }
  NAPI_CALL(env, napi_create_int32(env, (int32_t)fd, &ret));
  return ret;
}

static napi_value js_pidfd_send_signal(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pidfd = 0, sig = 0;
  char desc[32];
  if (!get_int(env, argv[0], "pidfd", false, 0, &pidfd)) return NULL;
  if (!get_int(env, argv[1], "signal", false, 0, &sig)) return NULL;
  if (syscall(__NR_pidfd_send_signal, pidfd, sig, NULL, 0U) != 0) {
    snprintf(desc, sizeof desc, "pidfd %d", pidfd);
    return throw_errno(env, errno, "pidfd_send_signal", desc, NULL);
  }
  return undefined_value(env);
}

/*
 * waitid(P_PIDFD, pidfd, WEXITED | options). Reaps exactly the process the
 * pidfd refers to (unless WNOWAIT). With WNOHANG and nothing to report,
 * returns null.
 */
static napi_value js_waitid_pidfd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int pidfd = 0, options = 0, rc;
  siginfo_t si;
  napi_value obj;
  char desc[32];
  if (!get_int(env, argv[0], "pidfd", false, 0, &pidfd)) return NULL;
  if (!get_int(env, argv[1], "options", true, 0, &options)) return NULL;
  memset(&si, 0, sizeof si);
  do {
    rc = waitid(BERTH_P_PIDFD, (id_t)pidfd, &si, WEXITED | options);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    snprintf(desc, sizeof desc, "pidfd %d", pidfd);
    return throw_errno(env, errno, "waitid", desc, NULL);
  }
  if (si.si_pid == 0) return null_value(env);
  NAPI_CALL(env, napi_create_object(env, &obj));
  set_int_prop(env, obj, "pid", si.si_pid);
  set_int_prop(env, obj, "code", si.si_code);
  set_int_prop(env, obj, "status", si.si_status);
  set_int_prop(env, obj, "exitStatus",
               si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status);
  return obj;
}

/* ------------------------------------------------------------------------ */
/* spawn(path, argv, envp, [stdin, stdout, stderr]) -> { pid, pidfd }        */

static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* A JS array of strings -> a NULL-terminated, malloc'ed vector. */
static bool get_strv(napi_env env, napi_value arr, const char *argname, char ***out) {
  bool is_array = false;
  uint32_t n = 0;
  char **v;
  *out = NULL;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array) {
    throw_type_error(env, "The \"%s\" argument must be an array of strings", argname);
    return false;
  }
  if (napi_get_array_length(env, arr, &n) != napi_ok) {
    throw_napi_failure(env, "napi_get_array_length");
    return false;
  }
  v = calloc((size_t)n + 1, sizeof *v);
  if (v == NULL) {
    throw_errno(env, ENOMEM, "calloc", NULL, NULL);
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok) {
      free_strv(v);
      throw_napi_failure(env, "napi_get_element");
      return false;
    }
    if (!get_cstr(env, e, argname, false, &v[i])) {
      free_strv(v);
      return false;
    }
  }
  *out = v;
  return true;
}

/*
 * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), so no copy of the caller's
 * page tables: a fork of a Node process costs milliseconds, this a fraction
 * of one) with fds 0-2 set from `stdio` (-1 = /dev/null), an empty signal
 * mask and default dispositions (Node ignores SIGPIPE; ignored signals would
 * otherwise be inherited across exec). Every other descriptor is close-on-exec
 * already. Returns the pid and a pidfd for it, so the caller reaps exactly
 * this child with waitid(P_PIDFD) and libuv's SIGCHLD handling never sees it.
 * An exec failure (ENOENT, EACCES...) is reported here by glibc, not by the child.
 */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *path = NULL, **av = NULL, **ev = NULL;
  int fds[3] = {-1, -1, -1};
  napi_value ret = NULL, v;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  bool fa_init = false, at_init = false;
  sigset_t mask, def;
  pid_t pid = -1;
  long pidfd;
  int rc;

  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_strv(env, argv[1], "argv", &av)) goto out;
  if (!get_strv(env, argv[2], "envp", &ev)) goto out;
  for (uint32_t i = 0; i < 3; i++) {
    if (napi_get_element(env, argv[3], i, &v) != napi_ok) {
      throw_type_error(env, "The \"%s\" argument must be an array of 3 descriptors", "stdio");
      goto out;
    }
    if (!get_int(env, v, "stdio", false, 0, &fds[i])) goto out;
    /* dup2 onto 0-2 in order: a source that is itself one of 0-2 could be
     * overwritten before it is used. Callers pass fresh descriptors. */
    if (fds[i] >= 0 && fds[i] < 3 && fds[i] != (int)i) {
      throw_type_error(env, "The \"%s\" descriptors must be > 2 (or -1)", "stdio");
      goto out;
    }
  }
  if ((rc = posix_spawn_file_actions_init(&fa)) != 0) {
    throw_errno(env, rc, "posix_spawn_file_actions_init", NULL, NULL);
    goto out;
  }
  fa_init = true;
  for (int i = 0; i < 3; i++) {
    rc = fds[i] >= 0 ? posix_spawn_file_actions_adddup2(&fa, fds[i], i)
                     : posix_spawn_file_actions_addopen(&fa, i, "/dev/null", O_RDWR, 0);
    if (rc != 0) {
      throw_errno(env, rc, "posix_spawn_file_actions", NULL, NULL);
      goto out;
    }
  }
  if ((rc = posix_spawnattr_init(&at)) != 0) {
    throw_errno(env, rc, "posix_spawnattr_init", NULL, NULL);
    goto out;
  }
  at_init = true;
  sigemptyset(&mask);
  sigfillset(&def);
  sigdelset(&def, SIGKILL);
  sigdelset(&def, SIGSTOP);
  posix_spawnattr_setsigmask(&at, &mask);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  rc = posix_spawn(&pid, path, &fa, &at, av, ev);
  if (rc != 0) {
    throw_errno(env, rc, "posix_spawn", path, NULL);
    goto out;
  }
  pidfd = syscall(__NR_pidfd_open, pid, 0U);
  if (pidfd < 0) {
    /* Cannot happen for our own unreaped child; never leave it unwatched. */
    int err = errno;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    throw_errno(env, err, "pidfd_open", path, NULL);
    goto out;
  }
  if (napi_create_object(env, &ret) != napi_ok) {
    throw_napi_failure(env, "napi_create_object");
    ret = NULL;
    goto out;
  }
  set_int_prop(env, ret, "pid", pid);
  set_int_prop(env, ret, "pidfd", pidfd);

out:
  if (at_init) posix_spawnattr_destroy(&at);
  if (fa_init) posix_spawn_file_actions_destroy(&fa);
  free(path);
  free_strv(av);
  free_strv(ev);
  return ret;
}

/*
 * execve(path, argv, envp): replaces this process (same pid) with a new
 * program; returns only by throwing. The signal mask is emptied first (a mask
 * survives execve) and fds 0-2 kept open across it. Used by berthd to restart itself under the V8 flags it
 * needs, whoever started it.
 */
static napi_value js_execve(napi_env env, napi_callback_info info) {
  ARGS(3);
  char *path = NULL, **av = NULL, **ev = NULL;
  sigset_t none;
  int err;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  if (!get_strv(env, argv[1], "argv", &av)) goto out;
  if (!get_strv(env, argv[2], "envp", &ev)) goto out;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
  /* Node marks fds 0-2 close-on-exec; the new image must keep its stdio. */
  for (int fd = 0; fd < 3; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && (fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  execve(path, av, ev);
  err = errno;
  throw_errno(env, err, "execve", path, NULL);
out:
  free(path);
  free_strv(av);
  free_strv(ev);
  return NULL;
}

/*
 * closeOnExecFrom(minFd): sets FD_CLOEXEC on every open descriptor >= minFd and returns
 * how many it changed. Libraries do not all open their files close-on-exec (LevelDB's
 * log, lock and table files are inherited by default), and libuv's spawn closes nothing
 * it was not asked to: without this, every long-lived child (a shim) would keep the
 * daemon's database files open.
 */
static napi_value js_close_on_exec_from(napi_env env, napi_callback_info info) {
  ARGS(1);
  int min_fd = 3, changed = 0;
  DIR *d;
  struct dirent *e;
  napi_value ret;
  if (!get_int(env, argv[0], "minFd", true, 3, &min_fd)) return NULL;
  d = opendir("/proc/self/fd");
  if (d == NULL) return throw_errno(env, errno, "opendir", "/proc/self/fd", NULL);
  int dfd = dirfd(d);
  while ((e = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end != '\0' || e->d_name[0] == '\0' || fd < min_fd || fd == dfd) continue;
    int fl = fcntl((int)fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC) && fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC) == 0) changed++;
  }
  closedir(d);
  NAPI_CALL(env, napi_create_int32(env, changed, &ret));
  return ret;
}

/* ------------------------------------------------------------------------ */
/* watchFd(fd, callback[, events]): a uv_poll watcher on the env's loop     */
/* (readable unless told otherwise); setEvents(mask) changes what it waits   */
/* for. libuv allows one poll handle per fd, so a descriptor read and        */
/* written (a pty master) has one watcher whose mask follows what its users  */
/* currently wait for.                                                       */

typedef struct watcher {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context actx;
  bool closing;     /* close requested (handle stop + uv_close issued) */
  bool uv_closed;   /* uv close callback ran */
  bool js_alive;    /* the wrapping JS object has not been finalized */
} watcher_t;

static void watcher_maybe_free(watcher_t *w) {
  if (w->uv_closed && !w->js_alive) free(w);
}

static void watcher_on_closed(uv_handle_t *h) {
  watcher_t *w = h->data;
  w->uv_closed = true;
  watcher_maybe_free(w);
}

static void watcher_cleanup_hook(void *arg);

static void watcher_close(watcher_t *w, bool from_cleanup_hook) {
  if (w->closing) return;
  w->closing = true;
  uv_poll_stop(&w->poll);
  if (!from_cleanup_hook) napi_remove_env_cleanup_hook(w->env, watcher_cleanup_hook, w);
  if (w->callback) {
    napi_delete_reference(w->env, w->callback);
    w->callback = NULL;
  }
  if (w->actx) {
    napi_async_destroy(w->env, w->actx);
    w->actx = NULL;
  }
  uv_close((uv_handle_t *)&w->poll, watcher_on_closed);
}

static void watcher_cleanup_hook(void *arg) { watcher_close((watcher_t *)arg, true); }

static void watcher_finalize(napi_env env, void *data, void *hint) {
  watcher_t *w = data;
  w->js_alive = false;
  watcher_maybe_free(w);
}

static void watcher_on_poll(uv_poll_t *h, int status, int events) {
  watcher_t *w = h->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_value cb, recv, argv[2], result;
  bool pending = false;

  if (w->closing || w->callback == NULL) return;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, w->callback, &cb) != napi_ok || cb == NULL) goto done;
  /* napi_make_callback needs an object receiver */
  if (napi_get_global(env, &recv) != napi_ok) goto done;
  if (status < 0) {
    argv[0] = make_errno_error(env, -status, "poll", NULL, NULL);
    if (argv[0] == NULL) napi_get_null(env, &argv[0]);
  } else {
    napi_get_null(env, &argv[0]);
  }
  napi_create_int32(env, events, &argv[1]);
  napi_make_callback(env, w->actx, recv, cb, 2, argv, &result);
  napi_is_exception_pending(env, &pending);
  if (pending) {
    /* A throwing callback would otherwise be re-run on every loop iteration
     * (level-triggered): stop watching, then report it as uncaught. */
    napi_value err;
    watcher_close(w, false);
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
done:
  napi_close_handle_scope(env, scope);
}

static watcher_t *unwrap_watcher(napi_env env, napi_callback_info info) {
  napi_value self;
  void *p = NULL;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok ||
      napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a berth_native fd watcher");
    return NULL;
  }
  return p;
}

static napi_value js_watcher_close(napi_env env, napi_callback_info info) {
  watcher_t *w = unwrap_watcher(env, info);
  if (w == NULL) return NULL;
  watcher_close(w, false);
  return undefined_value(env);
}

static napi_value js_watcher_ref(napi_env env, napi_callback_info info) {
  watcher_t *w = unwrap_watcher(env, info);
  if (w == NULL) return NULL;
  if (!w->closing) uv_ref((uv_handle_t *)&w->poll);
  return undefined_value(env);
}

static napi_value js_watcher_unref(napi_env env, napi_callback_info info) {
  watcher_t *w = unwrap_watcher(env, info);
  if (w == NULL) return NULL;
  if (!w->closing) uv_unref((uv_handle_t *)&w->poll);
  return undefined_value(env);
}

#define WATCH_EVENTS_ALL (UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED)

/* Start (mask != 0) or stop (mask == 0) the poll handle with `events`. */
static int watcher_set_events(watcher_t *w, int events) {
  if (events == 0) return uv_poll_stop(&w->poll);
  return uv_poll_start(&w->poll, events, watcher_on_poll);
}

static bool get_watch_events(napi_env env, napi_value v, bool optional, int *out) {
  if (!get_int(env, v, "events", optional, UV_READABLE, out)) return false;
  if (*out & ~WATCH_EVENTS_ALL) {
    throw_type_error(env, "The \"%s\" argument has unknown uv_poll event bits", "events");
    return false;
  }
  return true;
}

static napi_value js_watcher_set_events(napi_env env, napi_callback_info info) {
  napi_value self, argv[1];
  size_t argc = 1;
  void *p = NULL;
  int events = 0, rc;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a berth_native fd watcher");
    return NULL;
  }
  if (!get_watch_events(env, argv[0], false, &events)) return NULL;
  watcher_t *w = p;
  if (w->closing) return undefined_value(env); /* closed: nothing to wait for */
  rc = watcher_set_events(w, events);
  if (rc != 0) return throw_errno(env, -rc, "uv_poll_start", NULL, NULL);
  return undefined_value(env);
}

static napi_value js_watch_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd = 0, rc, events = UV_READABLE;
  napi_valuetype t;
  uv_loop_t *loop = NULL;
  watcher_t *w;
  napi_value obj, fn, name;
  char desc[32];

  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  NAPI_CALL(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) return throw_type_error(env, "The \"%s\" argument must be a function", "callback");
  if (!get_watch_events(env, argv[2], true, &events)) return NULL;
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));

  w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, "calloc", NULL, NULL);
  w->env = env;
  w->js_alive = true;
  rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    free(w);
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, -rc, "uv_poll_init", desc, NULL);
  }
  w->poll.data = w;
  rc = watcher_set_events(w, events);
  if (rc != 0) {
    /* The uv handle is initialized; it must be closed, not freed. */
    w->js_alive = false;
    w->closing = true;
    uv_close((uv_handle_t *)&w->poll, watcher_on_closed);
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, -rc, "uv_poll_start", desc, NULL);
  }
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
      napi_create_string_utf8(env, "berth:watchFd", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_object(env, &obj) != napi_ok ||
      napi_async_init(env, obj, name, &w->actx) != napi_ok ||
      napi_wrap(env, obj, w, watcher_finalize, NULL, NULL) != napi_ok) {
    w->js_alive = false;
    watcher_close(w, true);
    throw_napi_failure(env, "watchFd setup");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, watcher_cleanup_hook, w);

  NAPI_CALL(env, napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_watcher_close, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, obj, "close", fn));
  NAPI_CALL(env, napi_create_function(env, "ref", NAPI_AUTO_LENGTH, js_watcher_ref, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, obj, "ref", fn));
  NAPI_CALL(env, napi_create_function(env, "unref", NAPI_AUTO_LENGTH, js_watcher_unref, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, obj, "unref", fn));
  NAPI_CALL(env, napi_create_function(env, "setEvents", NAPI_AUTO_LENGTH, js_watcher_set_events, NULL, &fn));
  NAPI_CALL(env, napi_set_named_property(env, obj, "setEvents", fn));
  return obj;
}

/* ------------------------------------------------------------------------ */
/* SCM_RIGHTS                                                               */

#define RECV_DATA_MAX 4096
#define RECV_FDS_MAX 16

/*
 * recvFd(socketFd) -> {fd, data} | null (null at EOF). Received descriptors
 * are close-on-exec. Extra descriptors beyond the first are closed.
 */
static napi_value js_recv_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int sock = 0, got = -1;
  char data[RECV_DATA_MAX];
  union {
    char buf[CMSG_SPACE(sizeof(int) * RECV_FDS_MAX)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {data, sizeof data};
  struct msghdr msg;
  struct cmsghdr *c;
  ssize_t n;
  napi_value obj, v;
  char desc[32];

  if (!get_int(env, argv[0], "socketFd", false, 0, &sock)) return NULL;
  snprintf(desc, sizeof desc, "fd %d", sock);
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "recvmsg", desc, NULL);

  for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < count; i++) {
        int fd;
        memcpy(&fd, fds + i, sizeof fd);
        if (got < 0) got = fd;
        else close(fd);
      }
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    if (got >= 0) close(got);
    return throw_errno(env, EMSGSIZE, "recvmsg", desc, NULL);
  }
  if (got < 0) {
    if (n == 0) return null_value(env);
    return throw_errno(env, ENOMSG, "recvmsg", desc, NULL);
  }
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_int32(env, got, &v) != napi_ok ||
      napi_set_named_property(env, obj, "fd", v) != napi_ok ||
      napi_create_buffer_copy(env, (size_t)n, data, NULL, &v) != napi_ok ||
      napi_set_named_property(env, obj, "data", v) != napi_ok) {
    close(got);
    throw_napi_failure(env, "recvFd result");
    return NULL;
  }
  return obj;
}

/* sendFd(socketFd, fd, data?) -> bytes sent. Empty data sends one NUL byte. */
static napi_value js_send_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int sock = 0, fd = 0;
  void *data = NULL;
  size_t len = 0;
  char *owned = NULL, nul = '\0';
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov;
  struct msghdr msg;
  struct cmsghdr *c;
  ssize_t n;
  napi_value ret = NULL;
  char desc[32];

  if (!get_int(env, argv[0], "socketFd", false, 0, &sock)) goto out;
  if (!get_int(env, argv[1], "fd", false, 0, &fd)) goto out;
  if (!get_bytes(env, argv[2], "data", true, &data, &len, &owned)) goto out;
  if (len == 0) {
    data = &nul;
    len = 1;
  }
  iov.iov_base = data;
  iov.iov_len = len;
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    snprintf(desc, sizeof desc, "fd %d", sock);
    throw_errno(env, errno, "sendmsg", desc, NULL);
    goto out;
  }
  NAPI_GOTO(env, napi_create_int64(env, n, &ret));
out:
  free(owned);
  return ret;
}

/* socketpair() -> [fd, fd]: AF_UNIX, SOCK_STREAM, close-on-exec. */
/* [fds[0], fds[1]] as a JS array; on failure both descriptors are closed. */
static napi_value fd_pair(napi_env env, const int fds[2], const char *what) {
  napi_value arr, v;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_create_int32(env, fds[0], &v) != napi_ok || napi_set_element(env, arr, 0, v) != napi_ok ||
      napi_create_int32(env, fds[1], &v) != napi_ok || napi_set_element(env, arr, 1, v) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    throw_napi_failure(env, what);
    return NULL;
  }
  return arr;
}

static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return throw_errno(env, errno, "socketpair", NULL, NULL);
  return fd_pair(env, sv, "socketpair result");
}

/*
 * connectUnix(path) -> fd | -1: a SOCK_STREAM unix socket connected to path, non-blocking
 * and close-on-exec, made synchronously. A unix socket's connect() completes in the call
 * when the listener's backlog has room; -1 (socket closed) when it would have to wait
 * (EAGAIN: backlog full), so the caller connects the usual, asynchronous way. Other errors
 * (ENOENT, ECONNREFUSED, a path too long for sun_path) are thrown.
 */
static napi_value js_connect_unix(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *path = NULL;
  napi_value ret = NULL;
  struct sockaddr_un addr;
  int fd = -1, r;
  if (!get_cstr(env, argv[0], "path", false, &path)) goto out;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) {
    throw_errno(env, ENAMETOOLONG, "connect", path, NULL);
    goto out;
  }
  memcpy(addr.sun_path, path, strlen(path));
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL, NULL);
    goto out;
  }
  do {
    r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    int err = errno;
    close(fd);
    fd = -1;
    if (err != EAGAIN && err != EINPROGRESS) {
      throw_errno(env, err, "connect", path, NULL);
      goto out;
    }
  }
  if (napi_create_int32(env, fd, &ret) != napi_ok) {
    if (fd >= 0) close(fd);
    throw_napi_failure(env, "napi_create_int32");
    ret = NULL;
  }
out:
  free(path);
  return ret;
}

/* ------------------------------------------------------------------------ */
/* shim helpers: pipes, pty window size, peer credentials, eventfd           */

/* pipe() -> [readFd, writeFd]: pipe2(O_CLOEXEC). Blocking; libuv makes its
 * own end non-blocking when it wraps it. */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", NULL, NULL);
  return fd_pair(env, fds, "pipe result");
}

/* setWinsize(fd, rows, cols): ioctl(TIOCSWINSZ), e.g. on a pty master. */
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  ARGS(3);
  int fd = 0, rows = 0, cols = 0;
  struct winsize ws;
  char desc[32];
  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  if (!get_int(env, argv[1], "rows", false, 0, &rows)) return NULL;
  if (!get_int(env, argv[2], "cols", false, 0, &cols)) return NULL;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)rows;
  ws.ws_col = (unsigned short)cols;
  if (ioctl(fd, TIOCSWINSZ, &ws) != 0) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "ioctl", desc, "TIOCSWINSZ");
  }
  return undefined_value(env);
}

/* getWinsize(fd) -> {rows, cols}: ioctl(TIOCGWINSZ). */
static napi_value js_get_winsize(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = 0;
  struct winsize ws;
  napi_value obj;
  char desc[32];
  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  memset(&ws, 0, sizeof ws);
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "ioctl", desc, "TIOCGWINSZ");
  }
  NAPI_CALL(env, napi_create_object(env, &obj));
  set_int_prop(env, obj, "rows", ws.ws_row);
  set_int_prop(env, obj, "cols", ws.ws_col);
  return obj;
}

/* getPeerCred(socketFd) -> {pid, uid, gid}: getsockopt(SO_PEERCRED). */
static napi_value js_get_peer_cred(napi_env env, napi_callback_info info) {
  ARGS(1);
  int fd = 0;
  struct ucred cred;
  socklen_t len = sizeof cred;
  napi_value obj;
  char desc[32];
  if (!get_int(env, argv[0], "socketFd", false, 0, &fd)) return NULL;
  memset(&cred, 0, sizeof cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "getsockopt", desc, "SO_PEERCRED");
  }
  NAPI_CALL(env, napi_create_object(env, &obj));
  set_int_prop(env, obj, "pid", cred.pid);
  set_int_prop(env, obj, "uid", cred.uid);
  set_int_prop(env, obj, "gid", cred.gid);
  return obj;
}

/* eventfd(initval, flags) -> fd. flags default EFD_CLOEXEC | EFD_NONBLOCK. */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int initval = 0, flags = 0, fd;
  napi_value ret;
  if (!get_int(env, argv[0], "initval", true, 0, &initval)) return NULL;
  if (!get_int(env, argv[1], "flags", true, EFD_CLOEXEC | EFD_NONBLOCK, &flags)) return NULL;
  fd = eventfd((unsigned int)initval, flags);
  if (fd < 0) return throw_errno(env, errno, "eventfd", NULL, NULL);
  NAPI_CALL(env, napi_create_int32(env, fd, &ret));
  return ret;
}

/* ------------------------------------------------------------------------ */
/* Jobs on the libuv thread pool that call a JS callback(err) when done.     */
/* Each job's struct starts with a struct async_job.                         */

struct async_job {
  napi_async_work work;
  napi_ref callback;
};

/* Checks that cb is a function and queues `execute` (thread pool), then `complete`
 * (event loop) with `job` as their data. Throws and returns false on failure, with
 * nothing left queued or referenced (the caller frees its struct). */
static bool queue_job(napi_env env, struct async_job *job, napi_value cb, const char *name,
                      napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_valuetype t;
  napi_value resource;
  if (napi_typeof(env, cb, &t) != napi_ok || t != napi_function) {
    throw_type_error(env, "The \"%s\" argument must be a function", "callback");
    return false;
  }
  if (napi_create_reference(env, cb, 1, &job->callback) != napi_ok) {
    throw_napi_failure(env, "napi_create_reference");
    return false;
  }
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute, complete, job, &job->work) != napi_ok) {
    throw_napi_failure(env, "napi_create_async_work");
    napi_delete_reference(env, job->callback);
    return false;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    throw_napi_failure(env, "napi_queue_async_work");
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->callback);
    return false;
  }
  return true;
}

/* From a job's complete: calls its callback with `arg` (an error or null; NULL when it
 * could not be made: no call) and releases the callback and the work. */
static void finish_job(napi_env env, struct async_job *job, napi_value arg) {
  napi_value cb, global;
  if (arg != NULL && napi_get_reference_value(env, job->callback, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &global) == napi_ok)
    napi_call_function(env, global, cb, 1, &arg, NULL);
  napi_delete_reference(env, job->callback);
  napi_delete_async_work(env, job->work);
}

/* ------------------------------------------------------------------------ */
/* removeTree(path, callback): rm -rf on a libuv thread-pool thread         */
/*
 * fs.rm({recursive}) costs a thread-pool round trip and JavaScript per entry; this is
 * one round trip for the whole tree. Safer too: it walks with openat/unlinkat from
 * descriptors (no path is re-resolved, so a directory swapped for a symlink meanwhile
 * cannot redirect it), never follows symlinks, and never crosses into another file
 * system: a mount left inside the tree (a rootfs that failed to unmount) stops it with
 * EBUSY instead of deleting the mounted files. A missing path is success (rm -f). On an
 * error it goes on removing what it can and reports the first error.
 */

#define RMTREE_MAX_DEPTH 4096

struct rmtree_req {
  struct async_job job; /* first */
  char *path;
  int err;               /* first errno, 0 if none */
  const char *syscall;   /* of the first error */
  char *failed;          /* path of the first error (malloc'd) */
};

static void rmtree_fail(struct rmtree_req *r, int err, const char *syscall, const char *parent,
                        const char *name) {
  if (r->err != 0) return;
  r->err = err;
  r->syscall = syscall;
  if (parent && name) {
    if (asprintf(&r->failed, "%s/%s", parent, name) < 0) r->failed = NULL;
  } else {
    r->failed = strdup(parent ? parent : r->path);
  }
}

/* Remove `name` in `parentfd` (a directory on device `dev`); `where` names it for errors. */
static void rmtree_at(struct rmtree_req *r, int parentfd, const char *where, const char *name,
                      dev_t dev, int depth) {
  if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT) return;
  /* EISDIR (Linux) or EPERM (POSIX) for a directory; EPERM also for an immutable file. */
  int unlink_err = errno;
  if (unlink_err != EISDIR && unlink_err != EPERM) {
    rmtree_fail(r, unlink_err, "unlink", where, name);
    return;
  }
  if (depth >= RMTREE_MAX_DEPTH) {
    rmtree_fail(r, ELOOP, "rmdir", where, name);
    return;
  }
  int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR || errno == ELOOP) rmtree_fail(r, unlink_err, "unlink", where, name);
    else if (errno != ENOENT) rmtree_fail(r, errno, "open", where, name);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rmtree_fail(r, errno, "fstat", where, name);
    close(fd);
    return;
  }
  if (st.st_dev != dev) {
    rmtree_fail(r, EBUSY, "rmdir", where, name); /* a mount point: leave it */
    close(fd);
    return;
  }
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    rmtree_fail(r, errno, "opendir", where, name);
    close(fd);
    return;
  }
  char *here = NULL;
  if (asprintf(&here, "%s/%s", where, name) < 0) here = NULL;
  struct dirent *e;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (e == NULL) {
      if (errno != 0) rmtree_fail(r, errno, "readdir", here ? here : where, NULL);
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    rmtree_at(r, dirfd(d), here ? here : where, e->d_name, dev, depth + 1);
  }
  closedir(d);
  free(here);
  if (unlinkat(parentfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) rmtree_fail(r, errno, "rmdir", where, name);
}

static void rmtree_execute(napi_env env, void *data) {
  (void)env;
  struct rmtree_req *r = data;
  struct stat st;
  if (lstat(r->path, &st) != 0) {
    if (errno != ENOENT) rmtree_fail(r, errno, "lstat", NULL, NULL);
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(r->path) != 0 && errno != ENOENT) rmtree_fail(r, errno, "unlink", NULL, NULL);
    return;
  }
  /* Split into parent and last component so the top directory goes through rmtree_at. */
  char *copy = strdup(r->path);
  if (copy == NULL) {
    rmtree_fail(r, ENOMEM, "rmdir", NULL, NULL);
    return;
  }
  size_t n = strlen(copy);
  while (n > 1 && copy[n - 1] == '/') copy[--n] = '\0';
  char *slash = strrchr(copy, '/');
  const char *parent = ".", *name = copy;
  if (slash == copy) {
    parent = "/";
    name = copy + 1;
  } else if (slash != NULL) {
    *slash = '\0';
    parent = copy;
    name = slash + 1;
  }
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    rmtree_fail(r, errno, "open", parent, NULL);
  } else {
    rmtree_at(r, pfd, parent, name, st.st_dev, 0);
    close(pfd);
  }
  free(copy);
}

static void rmtree_complete(napi_env env, napi_status status, void *data) {
  struct rmtree_req *r = data;
  napi_value arg;
  if (status == napi_cancelled)
    arg = make_errno_error(env, ECANCELED, "rmdir", r->path, NULL);
  else if (r->err != 0)
    arg = make_errno_error(env, r->err, r->syscall, r->failed ? r->failed : r->path, NULL);
  else
    arg = null_value(env);
  finish_job(env, &r->job, arg);
  free(r->path);
  free(r->failed);
  free(r);
}

static napi_value js_remove_tree(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct rmtree_req *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "removeTree", NULL, NULL);
  if (get_cstr(env, argv[0], "path", false, &r->path) &&
      queue_job(env, &r->job, argv[1], "berth:removeTree", rmtree_execute, rmtree_complete))
    return undefined_value(env);
  free(r->path);
  free(r);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* umount2Async(target, flags, callback): umount2 on a libuv thread-pool     */
/* thread. Unmounting an overlay syncs its upper filesystem (milliseconds), */
/* which the shim's event loop should not wait for.                          */

struct umount_req {
  struct async_job job; /* first */
  char *target;
  int flags;
  int err;
};

static void umount_execute(napi_env env, void *data) {
  (void)env;
  struct umount_req *r = data;
  r->err = umount2(r->target, r->flags) != 0 ? errno : 0;
}

static void umount_complete(napi_env env, napi_status status, void *data) {
  struct umount_req *r = data;
  int err = status == napi_cancelled ? ECANCELED : r->err;
  finish_job(env, &r->job, err != 0 ? make_errno_error(env, err, "umount2", r->target, NULL) : null_value(env));
  free(r->target);
  free(r);
}

static napi_value js_umount2_async(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct umount_req *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "umount2", NULL, NULL);
  if (get_cstr(env, argv[0], "target", false, &r->target) &&
      get_int(env, argv[1], "flags", true, 0, &r->flags) &&
      queue_job(env, &r->job, argv[2], "berth:umount2", umount_execute, umount_complete))
    return undefined_value(env);
  free(r->target);
  free(r);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* bindNewNetns(target, callback): a new network namespace, bind-mounted     */
/* onto the existing file `target`, made on a thread of its own.             */
/*
 * A network namespace belongs to a thread, so the unshare happens on a thread made for
 * it alone (from a libuv pool thread, which waits for it): that thread pins its new
 * namespace onto `target` and exits, and no thread that runs anything else ever changes
 * namespace. The mount is made in the process's mount namespace, as `unshare
 * --net=<file>` makes it. ~0.6 ms, against ~5 ms for forking the daemon to run unshare(1).
 */

struct netns_req {
  struct async_job job; /* first */
  char *target;
  int err;
  const char *failed;
};

static void *new_netns_thread(void *arg) {
  struct netns_req *r = arg;
  char self[64];
  if (unshare(CLONE_NEWNET) != 0) {
    r->err = errno;
    r->failed = "unshare";
    return NULL;
  }
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  if (mount(self, r->target, NULL, MS_BIND, NULL) != 0) {
    r->err = errno;
    r->failed = "mount";
  }
  return NULL;
}

static void new_netns_execute(napi_env env, void *data) {
  (void)env;
  struct netns_req *r = data;
  pthread_t th;
  sigset_t all, old;
  int rc;
  /* The helper thread inherits a full signal mask: signals go elsewhere. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&th, NULL, new_netns_thread, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    r->err = rc;
    r->failed = "pthread_create";
    return;
  }
  pthread_join(th, NULL);
}

static void new_netns_complete(napi_env env, napi_status status, void *data) {
  struct netns_req *r = data;
  napi_value arg;
  if (status == napi_cancelled)
    arg = make_errno_error(env, ECANCELED, "unshare", r->target, NULL);
  else if (r->err != 0)
    arg = make_errno_error(env, r->err, r->failed, r->target, NULL);
  else
    arg = null_value(env);
  finish_job(env, &r->job, arg);
  free(r->target);
  free(r);
}

static napi_value js_bind_new_netns(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct netns_req *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, ENOMEM, "unshare", NULL, NULL);
  if (get_cstr(env, argv[0], "target", false, &r->target) &&
      queue_job(env, &r->job, argv[1], "berth:bindNewNetns", new_netns_execute, new_netns_complete))
    return undefined_value(env);
  free(r->target);
  free(r);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* namespaces (affect the calling thread only: the JS main thread)          */

static napi_value js_setns(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = 0, nstype = 0;
  char desc[32];
  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  if (!get_int(env, argv[1], "nstype", true, 0, &nstype)) return NULL;
  if (setns(fd, nstype) != 0) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "setns", desc, NULL);
  }
  return undefined_value(env);
}

static napi_value js_unshare(napi_env env, napi_callback_info info) {
  ARGS(1);
  int flags = 0;
  if (!get_int(env, argv[0], "flags", false, 0, &flags)) return NULL;
  if (unshare(flags) != 0) return throw_errno(env, errno, "unshare", NULL, NULL);
  return undefined_value(env);
}

/* ------------------------------------------------------------------------ */
/* module                                                                   */

static void add_const(napi_env env, napi_value obj, const char *name, int64_t value) {
  set_int_prop(env, obj, name, value);
}

#define C(name) add_const(env, consts, #name, (int64_t)(name))

/*
 * clockRealtime(out: Float64Array) -> undefined: clock_gettime(CLOCK_REALTIME) into
 * out[0] (seconds since the epoch) and out[1] (nanoseconds, 0..999999999).
 * Wall time with nanoseconds, which Date (milliseconds) cannot give and hrtime (not
 * wall time) must not stand in for. The caller owns the array, so no object is
 * allocated per call and worker threads never share a buffer; both halves are exact
 * in a double.
 */
static napi_value js_clock_realtime(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  struct timespec ts;
  bool is_typedarray = false;
  NAPI_CALL(env, napi_is_typedarray(env, argv[0], &is_typedarray));
  if (is_typedarray) {
    NAPI_CALL(env, napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  }
  if (!is_typedarray || type != napi_float64_array || length < 2) {
    return throw_type_error(env, "%s must be a Float64Array of length >= 2", "out");
  }
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return throw_errno(env, errno, "clock_gettime", NULL, NULL);
  ((double *)data)[0] = (double)ts.tv_sec;
  ((double *)data)[1] = (double)ts.tv_nsec;
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* daemon helpers: the root lock and a log sink that never blocks            */

/*
 * flockTry(fd, exclusive) -> bool: flock(fd, LOCK_EX|LOCK_NB) (or LOCK_SH). false when
 * another open file description holds a conflicting lock (EWOULDBLOCK); other errors
 * throw. The kernel drops the lock when the last descriptor of that description closes,
 * i.e. when the process dies, however it dies: no stale-pid guessing.
 */
static napi_value js_flock_try(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = 0;
  bool exclusive = true;
  char desc[32];
  napi_value ret;
  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &exclusive));
  for (;;) {
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      NAPI_CALL(env, napi_get_boolean(env, false, &ret));
      return ret;
    }
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "flock", desc, NULL);
  }
  NAPI_CALL(env, napi_get_boolean(env, true, &ret));
  return ret;
}

/* setNonBlocking(fd, on): set or clear O_NONBLOCK on fd's open file description. */
static napi_value js_set_nonblocking(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = 0, flags;
  bool on = true;
  char desc[32];
  if (!get_int(env, argv[0], "fd", false, 0, &fd)) return NULL;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  snprintf(desc, sizeof desc, "fd %d", fd);
  flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl", desc, "F_GETFL");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) != 0) return throw_errno(env, errno, "fcntl", desc, "F_SETFL");
  return undefined_value(env);
}

/* (fd, buffer) arguments: false with a JS exception pending when they are not that. */
static bool get_fd_buffer(napi_env env, napi_callback_info info, int *fd, void **data, size_t *len) {
  size_t argc = 2;
  napi_value argv[2];
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return false;
  }
  if (!get_int(env, argv[0], "fd", false, 0, fd)) return false;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok) {
    throw_napi_failure(env, "napi_is_buffer");
    return false;
  }
  if (!is_buffer) {
    throw_type_error(env, "The \"%s\" argument must be a Buffer", "buffer");
    return false;
  }
  if (napi_get_buffer_info(env, argv[1], data, len) != napi_ok) {
    throw_napi_failure(env, "napi_get_buffer_info");
    return false;
  }
  return true;
}

/*
 * sendNoWait(fd, buffer) -> bytes sent: send(MSG_DONTWAIT|MSG_NOSIGNAL) on a socket, so
 * a full socket buffer answers EAGAIN (thrown) instead of blocking, without changing the
 * flags of a description other processes may share.
 */
static napi_value js_send_nowait(napi_env env, napi_callback_info info) {
  int fd = 0;
  void *data = NULL;
  size_t len = 0;
  ssize_t n;
  char desc[32];
  napi_value ret;
  if (!get_fd_buffer(env, info, &fd, &data, &len)) return NULL;
  do {
    n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, "send", desc, NULL);
  }
  NAPI_CALL(env, napi_create_int64(env, (int64_t)n, &ret));
  return ret;
}

/*
 * readNoWait(fd, buffer) -> bytes read, 0 at end of file, -1 when nothing is there yet
 * (EAGAIN on a non-blocking descriptor); writeNoWait(fd, buffer) -> bytes written, -1
 * when there is no room (EAGAIN). Other errors are thrown. For the client's socket to
 * the daemon (src/client/fd-socket.ts): "nothing yet" is an answer there, not an
 * exception to build, once per readiness event.
 */
static napi_value nowait_io(napi_env env, napi_callback_info info, bool writing) {
  int fd = 0;
  void *data = NULL;
  size_t len = 0;
  ssize_t n;
  char desc[32];
  napi_value ret;
  if (!get_fd_buffer(env, info, &fd, &data, &len)) return NULL;
  do {
    n = writing ? write(fd, data, len) : read(fd, data, len);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    snprintf(desc, sizeof desc, "fd %d", fd);
    return throw_errno(env, errno, writing ? "write" : "read", desc, NULL);
  }
  NAPI_CALL(env, napi_create_int64(env, n < 0 ? -1 : (int64_t)n, &ret));
  return ret;
}

static napi_value js_read_nowait(napi_env env, napi_callback_info info) { return nowait_io(env, info, false); }

static napi_value js_write_nowait(napi_env env, napi_callback_info info) { return nowait_io(env, info, true); }

/*
 * The CLI's exit (bin/berth). node's process.exit runs node's and OpenSSL's atexit work,
 * which cost 3-5 ms of every berth command here (bench/cli-run.ts; exiting by SIGKILL
 * instead was that much faster); _exit(2) skips it. What node's exit restores on the way
 * out is restored here first: the stdio descriptors' file status flags (libuv sets
 * O_NONBLOCK on the pipes and terminals it opens, and a shell sharing the terminal would
 * inherit that) and a terminal's modes, as saved by stdioSave() before anything opened
 * stdio. Output is not lost: process.stdout and stderr write synchronously on Linux
 * (files, pipes and terminals alike).
 */
static int saved_stdio_flags[3] = {-1, -1, -1};
static struct termios saved_stdio_tio[3];
static bool saved_stdio_tio_ok[3];

static napi_value js_stdio_save(napi_env env, napi_callback_info info) {
  (void)info;
  for (int fd = 0; fd < 3; fd++) {
    saved_stdio_flags[fd] = fcntl(fd, F_GETFL);
    saved_stdio_tio_ok[fd] = saved_stdio_flags[fd] != -1 && isatty(fd) && tcgetattr(fd, &saved_stdio_tio[fd]) == 0;
  }
  return undefined_value(env);
}

static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t code = 0;
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &code));
  /* As node's ResetStdio: a background process setting terminal modes gets SIGTTOU. */
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  pthread_sigmask(SIG_BLOCK, &ttou, NULL);
  for (int fd = 0; fd < 3; fd++) {
    if (saved_stdio_tio_ok[fd]) {
      while (tcsetattr(fd, TCSANOW, &saved_stdio_tio[fd]) == -1 && errno == EINTR) {
      }
    }
    if (saved_stdio_flags[fd] != -1) {
      int now = fcntl(fd, F_GETFL);
      if (now != -1 && now != saved_stdio_flags[fd]) fcntl(fd, F_SETFL, saved_stdio_flags[fd]);
    }
  }
  _exit(code & 0xff);
}

static napi_value make_constants(napi_env env) {
  napi_value consts;
  NAPI_CALL(env, napi_create_object(env, &consts));
  /* mount(2) */
  C(MS_RDONLY); C(MS_NOSUID); C(MS_NODEV); C(MS_NOEXEC); C(MS_SYNCHRONOUS);
  C(MS_REMOUNT); C(MS_MANDLOCK); C(MS_DIRSYNC); C(MS_NOATIME); C(MS_NODIRATIME);
  C(MS_BIND); C(MS_MOVE); C(MS_REC); C(MS_SILENT); C(MS_UNBINDABLE);
  C(MS_PRIVATE); C(MS_SLAVE); C(MS_SHARED); C(MS_RELATIME); C(MS_STRICTATIME);
  C(MS_LAZYTIME);
  /* umount2(2) */
  C(MNT_FORCE); C(MNT_DETACH); C(MNT_EXPIRE); C(UMOUNT_NOFOLLOW);
  /* mknod(2) */
  C(S_IFMT); C(S_IFCHR); C(S_IFBLK); C(S_IFIFO); C(S_IFREG); C(S_IFSOCK);
  /* xattr */
  C(XATTR_CREATE); C(XATTR_REPLACE);
  /* utimensat(2) */
  C(AT_SYMLINK_NOFOLLOW); C(UTIME_NOW); C(UTIME_OMIT);
  /* waitid(2) */
  C(WNOHANG); C(WEXITED); C(WNOWAIT); C(WSTOPPED); C(WCONTINUED);
  C(CLD_EXITED); C(CLD_KILLED); C(CLD_DUMPED); C(CLD_TRAPPED); C(CLD_STOPPED); C(CLD_CONTINUED);
  add_const(env, consts, "P_PIDFD", 3);
  add_const(env, consts, "PIDFD_NONBLOCK", PIDFD_NONBLOCK);
  /* namespaces */
  C(CLONE_NEWNS); C(CLONE_NEWUTS); C(CLONE_NEWIPC); C(CLONE_NEWUSER); C(CLONE_NEWPID);
  C(CLONE_NEWNET); C(CLONE_NEWCGROUP); C(CLONE_NEWTIME); C(CLONE_FS);
  /* uv_poll events */
  add_const(env, consts, "UV_READABLE", UV_READABLE);
  add_const(env, consts, "UV_DISCONNECT", UV_DISCONNECT);
  add_const(env, consts, "UV_WRITABLE", UV_WRITABLE);
  add_const(env, consts, "UV_PRIORITIZED", UV_PRIORITIZED);
  add_const(env, consts, "PAGE_SIZE", sysconf(_SC_PAGESIZE));
  /* eventfd(2) */
  C(EFD_CLOEXEC); C(EFD_NONBLOCK);
  return consts;
}

#undef C

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value consts = make_constants(env);
  if (consts == NULL) return NULL;
  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount2Async", NULL, js_umount2_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bindNewNetns", NULL, js_bind_new_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_enumerable, NULL},
      {"prctlSetChildSubreaper", NULL, js_prctl_set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
      {"prctlGetChildSubreaper", NULL, js_prctl_get_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdOpen", NULL, js_pidfd_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdSendSignal", NULL, js_pidfd_send_signal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeOnExecFrom", NULL, js_close_on_exec_from, NULL, NULL, NULL, napi_enumerable, NULL},
      {"execve", NULL, js_execve, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"waitidPidfd", NULL, js_waitid_pidfd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchFd", NULL, js_watch_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvFd", NULL, js_recv_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFd", NULL, js_send_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connectUnix", NULL, js_connect_unix, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setns", NULL, js_setns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unshare", NULL, js_unshare, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setWinsize", NULL, js_set_winsize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getWinsize", NULL, js_get_winsize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getPeerCred", NULL, js_get_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"eventfd", NULL, js_eventfd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"removeTree", NULL, js_remove_tree, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clockRealtime", NULL, js_clock_realtime, NULL, NULL, NULL, napi_enumerable, NULL},
      {"flockTry", NULL, js_flock_try, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNonBlocking", NULL, js_set_nonblocking, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendNoWait", NULL, js_send_nowait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readNoWait", NULL, js_read_nowait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeNoWait", NULL, js_write_nowait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stdioSave", NULL, js_stdio_save, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exitNow", NULL, js_exit_now, NULL, NULL, NULL, napi_enumerable, NULL},
      {"constants", NULL, NULL, NULL, NULL, consts, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    throw_napi_failure(env, "napi_define_properties");
    return NULL;
  }
  return exports;
}
