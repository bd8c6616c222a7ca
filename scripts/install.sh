#!/usr/bin/env bash
# install.sh — set berth up on this (Debian/Ubuntu) host, as root, and start berthd.
#
#   sudo bash scripts/install.sh
#
# 1. installs what berthd needs (Node.js >= 20 check, runc, containerd's runc shim, the CNI
#    plugins in /usr/lib/cni and iptables for pod networks, npm ci, npm run build) through
#    scripts/ensure-deps.sh --runtime;
# 2. links /usr/local/bin/berthd and /usr/local/bin/berth to this checkout's bin/;
# 3. starts berthd on its embedded defaults (root /var/lib/berth, state /run/berth,
#    socket /run/berth/berthd.sock):
#      - systemd as PID 1: installs /etc/systemd/system/berthd.service, `systemctl enable --now`;
#      - otherwise: detached (setsid + nohup), log /var/log/berthd.log, pid file /run/berth/berthd.pid;
#    if berthd already runs, it says so and changes nothing;
# 4. waits (up to 20 s) for the socket and prints where it is.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

SOCKET=/run/berth/berthd.sock
STATE_DIR=/run/berth
PID_FILE=/run/berth/berthd.pid
LOG_FILE=/var/log/berthd.log
UNIT=/etc/systemd/system/berthd.service
WAIT_SECONDS=20

say() { echo "install: $*"; }
die() { echo "install: ERROR: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (sudo bash scripts/install.sh): berthd mounts filesystems and runs containers"

# ---------------------------------------------------------------- dependencies + build
bash scripts/ensure-deps.sh --runtime || die "installing dependencies or building failed (see above)"

NODE="$(command -v node)"

# ---------------------------------------------------------------- links
for name in berthd berth; do
  src="$REPO_ROOT/bin/$name"
  if [[ ! -f "$src" ]]; then
    if [[ $name == berthd ]]; then die "$src is missing"; fi
    say "note: $src does not exist yet; not linking /usr/local/bin/$name"
    continue
  fi
  [[ -x "$src" ]] || chmod a+x "$src"
  mkdir -p /usr/local/bin
  ln -sfn "$src" "/usr/local/bin/$name"
  say "linked /usr/local/bin/$name -> $src"
done

# ---------------------------------------------------------------- helpers
# True if something accepts connections on the unix socket.
socket_up() {
  [[ -S "$SOCKET" ]] || return 1
  "$NODE" -e '
    const s = require("net").connect(process.argv[1]);
    const t = setTimeout(() => process.exit(1), 1000);
    s.on("connect", () => { clearTimeout(t); s.destroy(); process.exit(0); });
    s.on("error", () => process.exit(1));
  ' "$SOCKET" 2>/dev/null
}

# PID from the pid file, if that process is alive and is a berthd.
pidfile_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *berthd* ]] || return 1
  echo "$pid"
}

wait_for_socket() { # $1: pid to watch (empty: none)
  local pid="${1:-}" i
  for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
    if socket_up; then return 0; fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 2; fi
    sleep 0.1
  done
  return 1
}

have_systemd() { [[ -d /run/systemd/system ]] && [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]]; }

# ---------------------------------------------------------------- already running?
if pid="$(pidfile_pid)"; then
  say "berthd is already running (pid $pid, pid file $PID_FILE); nothing to do"
  say "socket: $SOCKET"
  exit 0
fi
if have_systemd && systemctl is-active --quiet berthd.service 2>/dev/null; then
  say "berthd.service is already active; nothing to do (restart it with: systemctl restart berthd)"
  say "socket: $SOCKET"
  exit 0
fi
if socket_up; then
  say "a berthd is already listening on $SOCKET; nothing to do"
  exit 0
fi

# ---------------------------------------------------------------- start
if have_systemd; then
  cat >"$UNIT" <<EOF
[Unit]
Description=berth container supervisor (containerd v1 API)
Documentation=file://$REPO_ROOT/README.md
After=network.target local-fs.target

[Service]
ExecStart=$NODE $REPO_ROOT/bin/berthd
Type=simple
Restart=always
RestartSec=2
# berthd's shims and containers must survive a daemon restart.
KillMode=process
Delegate=yes
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
EOF
  say "installed $UNIT"
  systemctl daemon-reload
  systemctl enable --now berthd.service
  if ! wait_for_socket ""; then
    journalctl -u berthd.service -n 50 --no-pager >&2 || true
    die "berthd did not create $SOCKET within ${WAIT_SECONDS}s (journal above)"
  fi
  say "berthd started by systemd (berthd.service)"
else
  mkdir -p "$STATE_DIR" "$(dirname "$LOG_FILE")"
  # Non-interactive bash does not make background jobs process-group leaders, so setsid
  # execs berthd itself (no extra fork) and $! is berthd's pid.
  setsid nohup "$NODE" "$REPO_ROOT/bin/berthd" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  rc=0
  wait_for_socket "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$LOG_FILE" >&2 || true
    if ((rc == 2)); then
      rm -f "$PID_FILE"
      die "berthd exited before creating $SOCKET (last lines of $LOG_FILE above)"
    fi
    die "berthd (pid $pid) did not create $SOCKET within ${WAIT_SECONDS}s (last lines of $LOG_FILE above)"
  fi
  say "berthd started (pid $pid, pid file $PID_FILE, log $LOG_FILE)"
fi

say "socket: $SOCKET"
say "try: ctr -a $SOCKET version"
