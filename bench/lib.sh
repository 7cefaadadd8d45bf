# shellcheck shell=bash
# Helpers shared by the bench/ scripts (sourced, not run): errors, port and HTTP waits, /proc
# readings, a temp dir cleaned up on exit.

die() { echo "error: $*" >&2; exit 1; }

# Whether something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits up to SECONDS for URL to answer 2xx; fails after that.
wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null --max-time 2 "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# A kB field (e.g. VmRSS) of /proc/PID/status.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Makes TMP, a fresh temp dir named after TAG, and an empty PIDS; on exit every pid in PIDS is
# stopped (TERM, KILL after 5 s) and TMP removed (kept with KEEP_TMP=1).
temp_dir_with_cleanup() { # TAG
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/homeostat-$1.XXXXXX")"
  PIDS=()
  trap stop_pids_and_clean EXIT
  trap 'exit 130' INT TERM
}

stop_pids_and_clean() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
