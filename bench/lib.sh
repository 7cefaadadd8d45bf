# shellcheck shell=bash
# Helpers shared by the bench/ scripts (sourced, not run): errors, port and HTTP waits, /proc
# readings. Each script keeps its own temp dir and cleanup, which differ by what they start.

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
