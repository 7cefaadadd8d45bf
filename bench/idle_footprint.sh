#!/usr/bin/env bash
# Measures the idle memory footprint (VmRSS after DURATION s, peak VmHWM) of `homeostat run` with 50 mixed checks against local targets.
# Goal: VmRSS <= 15 MiB. Optionally runs Monit with the same 50 checks side by side for comparison (MONIT=auto|1|0).
# Run: bench/idle_footprint.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, BENCH_TARGET_BIN, DURATION=300, TARGET_PORT=18080, API_PORT=19900, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
BENCH_TARGET_BIN="${BENCH_TARGET_BIN:-$(dirname "$HOMEOSTAT_BIN")/examples/bench_target}"
DURATION="${DURATION:-300}"
SAMPLE_EVERY="${SAMPLE_EVERY:-10}"
TARGET_PORT="${TARGET_PORT:-18080}"
API_PORT="${API_PORT:-19900}"
PG_ADDRESS="${PG_ADDRESS:-127.0.0.1:5432}"
MONIT="${MONIT:-auto}"
GOAL_KIB=$((15 * 1024))
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=idle_footprint

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release, or pass its path)"
[[ -x "$BENCH_TARGET_BIN" ]] || die "no bench_target at $BENCH_TARGET_BIN (cargo build --release --example bench_target, or set BENCH_TARGET_BIN)"
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 10 ]] || die "DURATION must be an integer >= 10"
case "$MONIT" in
  auto) if command -v monit >/dev/null; then MONIT=1; else MONIT=0; fi ;;
  1) command -v monit >/dev/null || die "MONIT=1 but monit is not installed" ;;
  0) ;;
  *) die "MONIT must be auto, 1 or 0" ;;
esac

temp_dir_with_cleanup idle # sets TMP and PIDS

rollup_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

port_busy "$TARGET_PORT" && die "port $TARGET_PORT is already in use (set TARGET_PORT)"
port_busy "$API_PORT" && die "port $API_PORT is already in use (set API_PORT)"

# --- targets -------------------------------------------------------------------------------
"$BENCH_TARGET_BIN" "127.0.0.1:$TARGET_PORT" 2>"$TMP/target.log" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
echo "$TARGET_PID" >"$TMP/target.pid"
wait_http "http://127.0.0.1:$TARGET_PORT/health" 15 || die "bench_target did not come up"

cat >"$TMP/plugin.sh" <<'EOF'
#!/bin/sh
echo "OK - all fine | load=0.5;1;2;0; users=3;;;0;"
exit 0
EOF
chmod 755 "$TMP/plugin.sh"

# --- the 50 checks: 20 http, 10 tcp, 10 command, 5 process, 5 host ---------------------------
INTERVALS=(10 20 30)
PROC_MATCH=("postgres" "redis-server" "bench_target" "nonexistent-process-xyz")
CONFIG="$TMP/homeostat.toml"
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n\n' "$API_PORT"
  printf '[store]\nurl = "sqlite://%s/h.db"\nretention_per_check = 100\n\n' "$TMP"
  for i in $(seq 1 20); do
    printf '[[check]]\nname = "http-%02d"\ntype = "http"\nurl = "http://127.0.0.1:%s/health"\ninterval = "%ss"\ntimeout = "2s"\n\n' \
      "$i" "$TARGET_PORT" "${INTERVALS[$((i % 3))]}"
  done
  for i in $(seq 1 10); do
    if ((i <= 5)); then addr="$PG_ADDRESS"; else addr="127.0.0.1:$TARGET_PORT"; fi
    printf '[[check]]\nname = "tcp-%02d"\ntype = "tcp"\naddress = "%s"\ninterval = "10s"\ntimeout = "2s"\n\n' "$i" "$addr"
  done
  for i in $(seq 1 10); do
    if ((i <= 5)); then cmd='["/bin/true"]'; else cmd="[\"$TMP/plugin.sh\"]"; fi
    printf '[[check]]\nname = "cmd-%02d"\ntype = "command"\ncommand = %s\ninterval = "%ss"\n\n' "$i" "$cmd" "${INTERVALS[$((i % 2))]}"
  done
  for i in $(seq 1 4); do
    printf '[[check]]\nname = "proc-%02d"\ntype = "process"\nmatch = "%s"\ninterval = "30s"\n\n' "$i" "${PROC_MATCH[$((i - 1))]}"
  done
  printf '[[check]]\nname = "proc-05"\ntype = "process"\npidfile = "%s/target.pid"\ninterval = "30s"\n\n' "$TMP"
  for i in $(seq 1 5); do
    printf '[[check]]\nname = "host-%02d"\ntype = "host"\ninterval = "30s"\n\n' "$i"
  done
} >"$CONFIG"

# --- Monit with the same checks (optional) -------------------------------------------------
if [[ "$MONIT" == 1 ]]; then
  MONITRC="$TMP/monitrc"
  {
    printf 'set daemon 10\nset log %s/monit.log\nset pidfile %s/monit.pid\n' "$TMP" "$TMP"
    printf 'set idfile %s/monit.id\nset statefile %s/monit.state\n\n' "$TMP" "$TMP"
    for i in $(seq 1 20); do
      every=$((${INTERVALS[$((i % 3))]} / 10))
      printf 'check host http-%02d with address 127.0.0.1\n  every %s cycles\n' "$i" "$every"
      printf '  if failed port %s protocol http request "/health" with timeout 2 seconds then alert\n' "$TARGET_PORT"
    done
    for i in $(seq 1 10); do
      if ((i <= 5)); then port="${PG_ADDRESS##*:}"; else port="$TARGET_PORT"; fi
      printf 'check host tcp-%02d with address 127.0.0.1\n  if failed port %s type tcp with timeout 2 seconds then alert\n' "$i" "$port"
    done
    for i in $(seq 1 10); do
      if ((i <= 5)); then path=/bin/true; else path="$TMP/plugin.sh"; fi
      printf 'check program cmd-%02d with path "%s"\n  every %s cycles\n  if status != 0 then alert\n' \
        "$i" "$path" "$((${INTERVALS[$((i % 2))]} / 10))"
    done
    for i in $(seq 1 4); do
      printf 'check process proc-%02d matching "%s"\n  every 3 cycles\n' "$i" "${PROC_MATCH[$((i - 1))]}"
    done
    printf 'check process proc-05 with pidfile %s/target.pid\n  every 3 cycles\n' "$TMP"
    # Monit allows one `check system`; the other host checks become filesystem checks of /.
    printf 'check system bench-host\n  every 3 cycles\n  if memory usage > 95%% then alert\n'
    for i in $(seq 2 5); do
      printf 'check filesystem host-%02d with path /\n  every 3 cycles\n  if space usage > 90%% then alert\n' "$i"
    done
  } >"$MONITRC"
  chmod 600 "$MONITRC"
  monit -t -c "$MONITRC" >/dev/null || die "monit rejected $MONITRC"
fi

# --- run ---------------------------------------------------------------------------------
"$HOMEOSTAT_BIN" check-config "$CONFIG" >/dev/null
echo "homeostat: $HOMEOSTAT_BIN, 50 checks, DURATION=${DURATION}s"
"$HOMEOSTAT_BIN" run --config "$CONFIG" >"$TMP/homeostat.log" 2>&1 &
HPID=$!
PIDS+=("$HPID")
wait_http "http://127.0.0.1:$API_PORT/metrics" 30 || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat did not come up"; }
MPID=""
if [[ "$MONIT" == 1 ]]; then
  monit -I -c "$MONITRC" >"$TMP/monit.out" 2>&1 &
  MPID=$!
  PIDS+=("$MPID")
fi

mkdir -p "$OUT_DIR"
SAMPLES="$OUT_DIR/$NAME.samples.csv"
echo "elapsed_s,homeostat_rss_kib,homeostat_hwm_kib,homeostat_threads,monit_rss_kib" >"$SAMPLES"
start=$SECONDS
while :; do
  elapsed=$((SECONDS - start))
  kill -0 "$HPID" 2>/dev/null || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat exited early"; }
  m_rss=""
  [[ -n "$MPID" ]] && m_rss="$(status_kib "$MPID" VmRSS 2>/dev/null || true)"
  echo "$elapsed,$(status_kib "$HPID" VmRSS),$(status_kib "$HPID" VmHWM),$(status_kib "$HPID" Threads),$m_rss" >>"$SAMPLES"
  ((elapsed >= DURATION)) && break
  sleep "$((DURATION - elapsed < SAMPLE_EVERY ? DURATION - elapsed : SAMPLE_EVERY))"
done

# --- final readings -----------------------------------------------------------------------
RSS=$(status_kib "$HPID" VmRSS)
HWM=$(status_kib "$HPID" VmHWM)
THREADS=$(status_kib "$HPID" Threads)
FDS=$(find "/proc/$HPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
ANON=$(rollup_kib "$HPID" Anonymous)
FILE_RSS=$(( $(rollup_kib "$HPID" Rss) - ANON ))
PSS=$(rollup_kib "$HPID" Pss)
M_RSS=null M_HWM=null
if [[ -n "$MPID" ]] && kill -0 "$MPID" 2>/dev/null; then
  M_RSS=$(status_kib "$MPID" VmRSS)
  M_HWM=$(status_kib "$MPID" VmHWM)
fi
curl -fsS --max-time 10 "http://127.0.0.1:$API_PORT/metrics" >"$TMP/metrics.txt"
# runs by status, summed over checks
read -r RUNS_OK RUNS_WARN RUNS_CRIT RUNS_UNK < <(awk '
  /^homeostat_check_runs_total\{/ {
    match($0, /status="[a-z]+"/); s = substr($0, RSTART + 8, RLENGTH - 9); n[s] += $NF
  }
  END { printf "%d %d %d %d\n", n["ok"], n["warning"], n["critical"], n["unknown"] }' "$TMP/metrics.txt")
RUNS_TOTAL=$((RUNS_OK + RUNS_WARN + RUNS_CRIT + RUNS_UNK))
CHECKS_RAN=$(awk '/^homeostat_check_runs_total\{/ { match($0, /check="[^"]+"/); c[substr($0, RSTART, RLENGTH)] = 1 }
  END { print length(c) }' "$TMP/metrics.txt")

kill -TERM "$HPID"
t0=$(date +%s.%N)
for _ in $(seq 100); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$HPID" 2>/dev/null; then STOP_S=null; else STOP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'); fi

PASS=false
((RSS <= GOAL_KIB)) && PASS=true

# --- results ----------------------------------------------------------------------------------
cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "duration_s": $DURATION,
  "checks": {"total": 50, "http": 20, "tcp": 10, "command": 10, "process": 5, "host": 5},
  "homeostat": {
    "rss_kib": $RSS,
    "hwm_kib": $HWM,
    "anon_kib": $ANON,
    "file_backed_kib": $FILE_RSS,
    "pss_kib": $PSS,
    "threads": $THREADS,
    "open_fds": $FDS,
    "checks_ran": $CHECKS_RAN,
    "runs": {"total": $RUNS_TOTAL, "ok": $RUNS_OK, "warning": $RUNS_WARN, "critical": $RUNS_CRIT, "unknown": $RUNS_UNK},
    "shutdown_s": $STOP_S
  },
  "monit": {"ran": $([[ -n "$MPID" ]] && echo true || echo false), "rss_kib": $M_RSS, "hwm_kib": $M_HWM},
  "goal": {"rss_kib_max": $GOAL_KIB, "pass": $PASS},
  "samples_csv": "$SAMPLES"
}
EOF

echo
echo "== idle footprint: 50 checks, ${DURATION}s =="
printf '%-34s %12s\n' "metric" "value"
printf '%-34s %12s\n' "homeostat VmRSS (MiB)" "$(mib "$RSS")"
printf '%-34s %12s\n' "homeostat VmHWM peak (MiB)" "$(mib "$HWM")"
printf '%-34s %12s\n' "  anonymous / file-backed (MiB)" "$(mib "$ANON") / $(mib "$FILE_RSS")"
printf '%-34s %12s\n' "threads / open fds" "$THREADS / $FDS"
printf '%-34s %12s\n' "checks that ran / runs" "$CHECKS_RAN / $RUNS_TOTAL"
printf '%-34s %12s\n' "runs ok/warn/crit/unknown" "$RUNS_OK/$RUNS_WARN/$RUNS_CRIT/$RUNS_UNK"
printf '%-34s %12s\n' "shutdown on SIGTERM (s)" "$STOP_S"
if [[ "$M_RSS" != null ]]; then
  printf '%-34s %12s\n' "monit VmRSS / VmHWM (MiB)" "$(mib "$M_RSS") / $(mib "$M_HWM")"
fi
printf '%-34s %12s\n' "goal VmRSS <= 15 MiB" "$([[ $PASS == true ]] && echo PASS || echo FAIL)"
echo "results: $OUT_DIR/$NAME.json"
