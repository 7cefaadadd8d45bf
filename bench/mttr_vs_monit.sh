#!/usr/bin/env bash
# Measures MTTR for a crashed HTTP service (kill -9 → answers 200 again, and for Homeostat → repair recorded succeeded) with a 1 s check interval, ROUNDS times; then Monit (set daemon 1, `if failed port … then restart`) on the same service, alone.
# Goal: Homeostat median kill → verified healthy (200 and repair succeeded) <= interval + 1 s = 2 s. Monit is reported side by side (MONIT=auto|1|0).
# Run: bench/mttr_vs_monit.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, BENCH_TARGET_BIN, ROUNDS=10, SERVICE=bench_target|python, SVC_PORT=18140, API_PORT=19960, PAUSE=3, ROUND_TIMEOUT=30, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
BENCH_TARGET_BIN="${BENCH_TARGET_BIN:-$(dirname "$HOMEOSTAT_BIN")/examples/bench_target}"
ROUNDS="${ROUNDS:-10}"
SERVICE="${SERVICE:-bench_target}"
SVC_PORT="${SVC_PORT:-18140}"
API_PORT="${API_PORT:-19960}"
PAUSE="${PAUSE:-3}"                 # seconds of healthy service between two kills
ROUND_TIMEOUT="${ROUND_TIMEOUT:-30}" # a round that takes longer counts as a failure
MONIT="${MONIT:-auto}"
PYTHON="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}" # reaper; SERVICE=python
GOAL_S=2
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=mttr_vs_monit
TOKEN=x

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release, or pass its path)"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || die "ROUNDS must be a positive integer"
case "$SERVICE" in
  bench_target) [[ -x "$BENCH_TARGET_BIN" ]] || die "no bench_target at $BENCH_TARGET_BIN (cargo build --release --example bench_target, or set BENCH_TARGET_BIN)" ;;
  python) [[ -n "$PYTHON" ]] || die "SERVICE=python but no python3" ;;
  *) die "SERVICE must be bench_target or python" ;;
esac
case "$MONIT" in
  auto) if command -v monit >/dev/null; then MONIT=1; else MONIT=0; fi ;;
  1) command -v monit >/dev/null || die "MONIT=1 but monit is not installed (apt-get install monit)" ;;
  0) ;;
  *) die "MONIT must be auto, 1 or 0" ;;
esac
command -v jq >/dev/null || die "jq is required"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/homeostat-mttr.XXXXXX")"
PIDS=()
kill_service() { # the service is detached (setsid), so it is not in PIDS
  local pid
  pid="$(cat "$TMP/svc.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
}
stop_pid() { # PID: TERM, wait up to 10 s, KILL
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  kill_service
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
epoch() { date -d "$1" +%s.%N; } # RFC 3339 → epoch seconds
api() { curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT$1"; }
succeeded_repairs() {
  curl -fsS --max-time 5 "http://127.0.0.1:$API_PORT/metrics" |
    awk '/^homeostat_repairs_total\{/ && /runbook="restart-svc"/ && /outcome="succeeded"/ { n += $NF } END { printf "%d\n", n }'
}
stats() { # values on stdin → "median p90 max n" (nearest-rank percentiles)
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "null null null 0"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    p = int(0.9 * NR + 0.999999); if (p < 1) p = 1
    printf "%.3f %.3f %.3f %d\n", m, v[p], v[NR], NR }'
}

port_busy "$SVC_PORT" && die "port $SVC_PORT is already in use (set SVC_PORT)"
port_busy "$API_PORT" && die "port $API_PORT is already in use (set API_PORT)"

# --- the service: a real HTTP server, started detached by a script that writes a pidfile ------
SVC_URL="http://127.0.0.1:$SVC_PORT/health"
if [[ "$SERVICE" == bench_target ]]; then
  SVC_CMD="\"$BENCH_TARGET_BIN\" 127.0.0.1:$SVC_PORT"
else
  mkdir -p "$TMP/www" && echo ok >"$TMP/www/health"
  SVC_CMD="\"$PYTHON\" -m http.server $SVC_PORT --bind 127.0.0.1 --directory \"$TMP/www\""
fi
# The start script returns once the port accepts connections (at most 5 s), like a service
# manager's start would; both tools run exactly this script.
cat >"$TMP/start-svc.sh" <<EOF
#!/bin/sh
setsid $SVC_CMD >>"$TMP/svc.log" 2>&1 </dev/null &
echo \$! >"$TMP/svc.pid"
i=0
while [ \$i -lt 100 ]; do
  curl -fs -o /dev/null --max-time 1 "$SVC_URL" && exit 0
  sleep 0.05; i=\$((i + 1))
done
exit 1
EOF
cat >"$TMP/stop-svc.sh" <<EOF
#!/bin/sh
kill \$(cat "$TMP/svc.pid") 2>/dev/null
exit 0
EOF
chmod 755 "$TMP/start-svc.sh" "$TMP/stop-svc.sh"

# Both tools run under a child subreaper that reaps orphans at once, as systemd (PID 1) would:
# the service is detached by its start script, and on a machine whose PID 1 reaps late the
# killed service stays a zombie for a while, which Monit's pidfile check reports as "zombie"
# instead of "not running" (REAPER=0 to run without it).
cat >"$TMP/reaper.py" <<'EOF'
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.fork()
if child == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda s, f: os.kill(child, s))
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        sys.exit(0)
    except InterruptedError:
        continue
    if pid == child:
        sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
EOF
REAPER="${REAPER:-1}"
REAPED=()
[[ "$REAPER" == 1 ]] && REAPED=("$PYTHON" "$TMP/reaper.py") # prefix; $! is then the reaper, which forwards TERM
# PAUSE plus a random fraction of a second, so kills land at random phases of the 1 s cycle
pause() { sleep "$(awk -v p="$PAUSE" -v r="$RANDOM" 'BEGIN { printf "%.3f", p + r / 32768 }')"; }

# One round: kill -9 the service, then time until it answers 200 again (20 ms polling).
# Prints "kill_epoch kill_to_200_s" or "kill_epoch null" after ROUND_TIMEOUT.
kill_and_wait_200() {
  local pid t0 t1 deadline
  pid="$(cat "$TMP/svc.pid")"
  t0="$(now)"
  kill -KILL "$pid"
  # wait until the old process is really gone (port refuses), at most 2 s
  for _ in $(seq 100); do curl -fs -o /dev/null --max-time 0.2 "$SVC_URL" || break; sleep 0.02; done
  deadline=$((SECONDS + ROUND_TIMEOUT))
  until curl -fs -o /dev/null --max-time 0.5 "$SVC_URL"; do
    if ((SECONDS >= deadline)); then echo "$t0 null"; return; fi
    sleep 0.02
  done
  t1="$(now)"
  echo "$t0 $(since "$t0" "$t1")"
}

# --- Homeostat ----------------------------------------------------------------------------------
CONFIG="$TMP/homeostat.toml"
cat >"$CONFIG" <<EOF
[server]
listen = "127.0.0.1:$API_PORT"

[store]
url = "sqlite://$TMP/h.db"

[policy]
mode = "enforce"
max_concurrent_repairs = 4
max_repairs_per_hour = 10000

[incidents]
resolve_after_ok = 1

[[check]]
name = "svc"
type = "http"
url = "$SVC_URL"
interval = "1s"
timeout = "500ms"
failures_before_critical = 1
remedy = ["restart-svc"]

[[runbook]]
name = "restart-svc"
steps = [ { run = ["/bin/sh", "$TMP/start-svc.sh"], timeout = "10s" } ]
verify = { check = "svc", within = "10s" }
max_attempts = 1000
window = "1h"
EOF
"$HOMEOSTAT_BIN" check-config "$CONFIG" >/dev/null || die "homeostat rejected $CONFIG"

/bin/sh "$TMP/start-svc.sh" || die "the service did not start (see $TMP/svc.log)"
echo "homeostat: $HOMEOSTAT_BIN, service=$SERVICE on :$SVC_PORT, ROUNDS=$ROUNDS"
HOMEOSTAT_ADMIN_TOKEN=$TOKEN "${REAPED[@]}" "$HOMEOSTAT_BIN" run --config "$CONFIG" >"$TMP/homeostat.log" 2>&1 &
HPID=$!
PIDS+=("$HPID")
wait_http "http://127.0.0.1:$API_PORT/metrics" 30 || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat did not come up"; }
sleep "$PAUSE"

H_ROWS="$TMP/homeostat.rows" # round kill_to_200 kill_to_recorded kill_to_repair_started repair_duration
: >"$H_ROWS"
for round in $(seq 1 "$ROUNDS"); do
  kill -0 "$HPID" 2>/dev/null || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat exited early"; }
  before="$(succeeded_repairs)"
  read -r t0 to200 < <(kill_and_wait_200)
  recorded=null
  deadline=$((SECONDS + ROUND_TIMEOUT))
  while ((SECONDS < deadline)); do
    if (($(succeeded_repairs) > before)); then recorded="$(since "$t0" "$(now)")"; break; fi
    sleep 0.02
  done
  # the repair of this round, from the API: when it started and how long it took
  started=null duration=null
  row="$(api "/api/v1/repairs?limit=1" | jq -r '.repairs[0] | "\(.state) \(.started_at) \(.finished_at)"')"
  read -r state s_at f_at <<<"$row"
  if [[ "$state" == succeeded && "$s_at" != null && "$f_at" != null ]]; then
    started="$(since "$t0" "$(epoch "$s_at")")"
    duration="$(since "$(epoch "$s_at")" "$(epoch "$f_at")")"
  fi
  [[ "$to200" == null ]] && kill_service && /bin/sh "$TMP/start-svc.sh" || true # keep the next round meaningful
  echo "$round $to200 $recorded $started $duration" >>"$H_ROWS"
  printf '  homeostat round %2d: kill→200 %ss, kill→repair succeeded %ss (repair started +%ss, took %ss)\n' \
    "$round" "$to200" "$recorded" "$started" "$duration"
  pause
done
api "/api/v1/repairs?limit=500" >"$TMP/repairs.json"
REPAIR_STATES="$(jq -c '[.repairs[].state] | group_by(.) | map({(.[0]): length}) | add // {}' "$TMP/repairs.json")"
stop_pid "$HPID"
PIDS=()
grep -E ' (ERROR|WARN) ' "$TMP/homeostat.log" | grep -v 'incident opened' | tail -5 >&2 || true

# --- Monit, alone, on the same service ----------------------------------------------------------
M_ROWS="$TMP/monit.rows"
: >"$M_ROWS"
MONIT_VERSION=null
if [[ "$MONIT" == 1 ]]; then
  MONIT_VERSION="\"$(monit -V | awk 'NR == 1 { print $NF }')\""
  kill_service # Monit starts it itself, so that it runs under Monit's (reaper's) process tree
  MONITRC="$TMP/monitrc"
  cat >"$MONITRC" <<EOF
set daemon 1
set log $TMP/monit.log
set pidfile $TMP/monit.pid
set idfile $TMP/monit.id
set statefile $TMP/monit.state

check process svc with pidfile $TMP/svc.pid
  start program = "/bin/sh $TMP/start-svc.sh" with timeout 10 seconds
  stop program = "/bin/sh $TMP/stop-svc.sh"
  if failed port $SVC_PORT protocol http request "/health" with timeout 1 seconds then restart
EOF
  chmod 600 "$MONITRC"
  monit -t -c "$MONITRC" >/dev/null || die "monit rejected $MONITRC"
  "${REAPED[@]}" monit -I -c "$MONITRC" >"$TMP/monit.out" 2>&1 &
  MPID=$!
  PIDS+=("$MPID")
  wait_http "$SVC_URL" 30 || { tail -20 "$TMP/monit.log" >&2; die "monit did not start the service"; }
  pause
  for round in $(seq 1 "$ROUNDS"); do
    kill -0 "$MPID" 2>/dev/null || { tail -20 "$TMP/monit.out" >&2; die "monit exited early"; }
    read -r t0 to200 < <(kill_and_wait_200)
    [[ "$to200" == null ]] && kill_service && /bin/sh "$TMP/start-svc.sh" || true
    echo "$round $to200" >>"$M_ROWS"
    printf '  monit     round %2d: kill→200 %ss\n' "$round" "$to200"
    pause
  done
  stop_pid "$MPID"
  PIDS=()
fi

# --- results ------------------------------------------------------------------------------------
column_stats() { awk -v c="$2" '$c != "null" { print $c }' "$1" | stats; }
failed_rounds() { awk -v c="$2" '$c == "null" { n++ } END { print n + 0 }' "$1"; }
read -r H200_MED H200_P90 H200_MAX H200_N < <(column_stats "$H_ROWS" 2)
read -r HREC_MED HREC_P90 HREC_MAX HREC_N < <(column_stats "$H_ROWS" 3)
read -r HSTART_MED HSTART_P90 HSTART_MAX _ < <(column_stats "$H_ROWS" 4)
read -r HDUR_MED HDUR_P90 HDUR_MAX _ < <(column_stats "$H_ROWS" 5)
H_FAILED=$(failed_rounds "$H_ROWS" 3)
M200_MED=null M200_P90=null M200_MAX=null M200_N=0 M_FAILED=null
if [[ "$MONIT" == 1 ]]; then
  read -r M200_MED M200_P90 M200_MAX M200_N < <(column_stats "$M_ROWS" 2)
  M_FAILED=$(failed_rounds "$M_ROWS" 2)
fi
PASS=false
[[ "$HREC_MED" != null && "$H_FAILED" == 0 ]] && awk -v m="$HREC_MED" -v g="$GOAL_S" 'BEGIN { exit !(m <= g) }' && PASS=true

rows_json() { # FILE FIELDS...: rows as JSON objects
  local file="$1"; shift
  jq -Rn --arg f "$*" '($f | split(" ")) as $k | [inputs | split(" ") | [$k, .] | transpose
    | map({(.[0]): (.[1] | if . == "null" then null else tonumber end)}) | add]' <"$file"
}
mkdir -p "$OUT_DIR"
cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "service": "$SERVICE",
  "subreaper": $([[ "$REAPER" == 1 ]] && echo true || echo false),
  "rounds": $ROUNDS,
  "check_interval_s": 1,
  "homeostat": {
    "kill_to_200_s": {"median": $H200_MED, "p90": $H200_P90, "max": $H200_MAX, "n": $H200_N},
    "kill_to_repair_succeeded_s": {"median": $HREC_MED, "p90": $HREC_P90, "max": $HREC_MAX, "n": $HREC_N},
    "kill_to_repair_started_s": {"median": $HSTART_MED, "p90": $HSTART_P90, "max": $HSTART_MAX},
    "repair_duration_s": {"median": $HDUR_MED, "p90": $HDUR_P90, "max": $HDUR_MAX},
    "failed_rounds": $H_FAILED,
    "repairs_by_state": $REPAIR_STATES,
    "rounds_detail": $(rows_json "$H_ROWS" round kill_to_200_s kill_to_repair_succeeded_s kill_to_repair_started_s repair_duration_s)
  },
  "monit": {
    "ran": $([[ "$MONIT" == 1 ]] && echo true || echo false),
    "version": $MONIT_VERSION,
    "cycle_s": 1,
    "kill_to_200_s": {"median": $M200_MED, "p90": $M200_P90, "max": $M200_MAX, "n": $M200_N},
    "failed_rounds": $M_FAILED,
    "rounds_detail": $([[ "$MONIT" == 1 ]] && rows_json "$M_ROWS" round kill_to_200_s || echo null)
  },
  "goal": {"homeostat_median_kill_to_verified_s_max": $GOAL_S, "pass": $PASS}
}
EOF

echo
echo "== MTTR: kill -9 of an HTTP service ($SERVICE), 1 s interval, $ROUNDS rounds each =="
printf '%-44s %8s %8s %8s %6s\n' "measure (seconds)" "median" "p90" "max" "fails"
printf '%-44s %8s %8s %8s %6s\n' "homeostat kill → 200" "$H200_MED" "$H200_P90" "$H200_MAX" "$(failed_rounds "$H_ROWS" 2)"
printf '%-44s %8s %8s %8s %6s\n' "homeostat kill → repair succeeded (verified)" "$HREC_MED" "$HREC_P90" "$HREC_MAX" "$H_FAILED"
printf '%-44s %8s %8s %8s %6s\n' "  of which kill → repair started" "$HSTART_MED" "$HSTART_P90" "$HSTART_MAX" ""
printf '%-44s %8s %8s %8s %6s\n' "  repair duration (steps + verify)" "$HDUR_MED" "$HDUR_P90" "$HDUR_MAX" ""
if [[ "$MONIT" == 1 ]]; then
  printf '%-44s %8s %8s %8s %6s\n' "monit $(monit -V | awk 'NR == 1 { print $NF }') (set daemon 1) kill → 200" "$M200_MED" "$M200_P90" "$M200_MAX" "$M_FAILED"
fi
printf '%-44s %s\n' "homeostat repairs by state" "$REPAIR_STATES"
printf '%-44s %s\n' "goal: homeostat median kill → verified <= 2 s" "$([[ $PASS == true ]] && echo PASS || echo FAIL)"
echo "results: $OUT_DIR/$NAME.json"
