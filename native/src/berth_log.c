// berth-log: the logging program `berth run -d` gives a task through a binary:// log URI,
// as containerd's shims run one (containerd 1.6's NewBinaryIO, and berth's shim the same):
// the task's stdout arrives on fd 3, its stderr on fd 4, and closing fd 5 tells the shim we
// are ready. Arguments come from the URI's query: `file PATH`.
//
// Each line is appended to PATH with the time it was read and its stream, in the CRI log
// format (kubelet, crictl and `berth logs` read it):
//   2026-01-02T03:04:05.123456789Z stdout F the line
// What one read returns after its last newline goes out at once as a piece tagged P
// (partial); the line's rest follows in later records, the last tagged F. One write(2) per
// record on an O_APPEND file: the records of the two streams never interleave.
//
// A native program rather than a Node one because it lives as long as its container: ~1 MB
// per container instead of a JavaScript runtime's ~40 MB. It exits once both streams are
// closed (the task and everything holding its pipes are gone), or on SIGTERM (a shim's
// request to stop) after writing what is already readable.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX 16384
#define HEAD_MAX 64

struct stream {
  int fd;
  const char *name;
  size_t len;
  int open;
  char buf[READ_MAX];
};

static int out_fd = -1;
static volatile sig_atomic_t stopping = 0;
static char record_buf[HEAD_MAX + READ_MAX + 1];

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(out_fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; // a full disk loses lines, never blocks the container
    }
    p += w;
    n -= (size_t)w;
  }
}

static void emit(const struct stream *s, const char *p, size_t n, char tag) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t h = strftime(record_buf, HEAD_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
  h += (size_t)snprintf(record_buf + h, HEAD_MAX - h, ".%09ldZ %s %c ", ts.tv_nsec, s->name, tag);
  // snprintf returns what it would have written: never past the head's room (the longest
  // head, "…T…Z stderr P ", is 40 bytes).
  if (h > HEAD_MAX - 1) h = HEAD_MAX - 1;
  memcpy(record_buf + h, p, n);
  record_buf[h + n] = '\n';
  write_all(record_buf, h + n + 1);
}

/** Writes every complete line read, then the rest as a P piece at once: a shim may hold
 * the pipe open after the process is gone (containerd's keeps it until the task is
 * deleted), and a prompt without a newline must not wait for one. */
static void flush_lines(struct stream *s) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    emit(s, s->buf + start, i - start, 'F');
    start = i + 1;
  }
  if (start < s->len) emit(s, s->buf + start, s->len - start, 'P');
  s->len = 0;
}

static void read_once(struct stream *s) {
  ssize_t n = read(s->fd, s->buf, sizeof s->buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    s->open = 0;
    close(s->fd);
    return;
  }
  s->len += (size_t)n;
  flush_lines(s);
}

int main(int argc, char **argv) {
  const char *file = NULL;
  for (int i = 1; i + 1 < argc; i += 2)
    if (strcmp(argv[i], "file") == 0) file = argv[i + 1];
  if (file == NULL || file[0] == '\0') {
    fprintf(stderr, "berth-log: usage: berth-log file PATH (fds 3, 4: stdout, stderr; fd 5: ready)\n");
    return 2;
  }
  out_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (out_fd < 0) {
    fprintf(stderr, "berth-log: open %s: %s\n", file, strerror(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term; // no SA_RESTART: poll returns at once
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  close(5); // ready

  static struct stream streams[2];
  streams[0].fd = 3;
  streams[0].name = "stdout";
  streams[0].open = 1;
  streams[1].fd = 4;
  streams[1].name = "stderr";
  streams[1].open = 1;
  for (;;) {
    struct pollfd pfd[2];
    struct stream *of[2];
    nfds_t n = 0;
    for (int i = 0; i < 2; i++) {
      if (!streams[i].open) continue;
      pfd[n].fd = streams[i].fd;
      pfd[n].events = POLLIN;
      pfd[n].revents = 0;
      of[n++] = &streams[i];
    }
    if (n == 0) break;
    // Once asked to stop: only what is readable now, then out.
    int r = poll(pfd, n, stopping ? 0 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    for (nfds_t i = 0; i < n; i++)
      if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) read_once(of[i]);
  }
  close(out_fd);
  return 0;
}
