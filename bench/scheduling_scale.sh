#!/usr/bin/env bash
# Measures scheduling at scale: CHECKS (10,000) http checks every 10 s against ONE local bench_target for DURATION s: start lateness p50/p99, RSS, starvation, ok/critical split.
# Goals: p99 lateness <= 100 ms (upper bound from histogram buckets), VmRSS <= 150 MiB, no check starved (every check ran >= floor(DURATION/10)-1 times).
# Run: bench/scheduling_scale.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, BENCH_TARGET_BIN, DURATION=120, CHECKS=10000, TARGET_PORT=18081, API_PORT=19901, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
BENCH_TARGET_BIN="${BENCH_TARGET_BIN:-$(dirname "$HOMEOSTAT_BIN")/examples/bench_target}"
DURATION="${DURATION:-120}"
CHECKS="${CHECKS:-10000}"
INTERVAL=10
SAMPLE_EVERY="${SAMPLE_EVERY:-5}"
TARGET_PORT="${TARGET_PORT:-18081}"
API_PORT="${API_PORT:-19901}"
GOAL_P99_S=0.1
GOAL_RSS_KIB=$((150 * 1024))
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=scheduling_scale

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release, or pass its path)"
[[ -x "$BENCH_TARGET_BIN" ]] || die "no bench_target at $BENCH_TARGET_BIN (cargo build --release --example bench_target, or set BENCH_TARGET_BIN)"
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 30 ]] || die "DURATION must be an integer >= 30"
[[ "$CHECKS" =~ ^[0-9]+$ && "$CHECKS" -ge 1 ]] || die "CHECKS must be a positive integer"
MIN_RUNS=$((DURATION / INTERVAL - 1))

TMP="$(mktemp -d "${TMPDIR:-/tmp}/homeostat-scale.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ "${KEEP_TMP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
served() { curl -fsS --max-time 5 "http://127.0.0.1:$TARGET_PORT/stats" | awk '{ print $2 }'; }

port_busy "$TARGET_PORT" && die "port $TARGET_PORT is already in use (set TARGET_PORT)"
port_busy "$API_PORT" && die "port $API_PORT is already in use (set API_PORT)"

"$BENCH_TARGET_BIN" "127.0.0.1:$TARGET_PORT" 2>"$TMP/target.log" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
wait_http "http://127.0.0.1:$TARGET_PORT/health" 15 || die "bench_target did not come up"

CONFIG="$TMP/homeostat.toml"
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n\n' "$API_PORT"
  printf '[store]\nurl = "sqlite://%s/h.db"\nretention_per_check = 100\n\n' "$TMP"
  for i in $(seq -f %05g 1 "$CHECKS"); do
    printf '[[check]]\nname = "c%s"\ntype = "http"\nurl = "http://127.0.0.1:%s/health"\ninterval = "%ss"\ntimeout = "5s"\n\n' \
      "$i" "$TARGET_PORT" "$INTERVAL"
  done
} >"$CONFIG"

echo "homeostat: $HOMEOSTAT_BIN, $CHECKS http checks every ${INTERVAL}s, DURATION=${DURATION}s"
SERVED0=$(served)
LAUNCH_T0=$(date +%s.%N)
"$HOMEOSTAT_BIN" run --config "$CONFIG" >"$TMP/homeostat.log" 2>&1 &
HPID=$!
PIDS+=("$HPID")
wait_http "http://127.0.0.1:$API_PORT/metrics" 60 || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat did not come up"; }
STARTUP_S=$(awk -v a="$LAUNCH_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

mkdir -p "$OUT_DIR"
SAMPLES="$OUT_DIR/$NAME.samples.csv"
echo "elapsed_s,rss_kib,hwm_kib,threads,cpu_ticks,target_served" >"$SAMPLES"
CLK_TCK=$(getconf CLK_TCK)
TICKS0=$(cpu_ticks "$HPID")
TTICKS0=$(cpu_ticks "$TARGET_PID")
start=$SECONDS
while :; do
  elapsed=$((SECONDS - start))
  kill -0 "$HPID" 2>/dev/null || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat exited early"; }
  echo "$elapsed,$(status_kib "$HPID" VmRSS),$(status_kib "$HPID" VmHWM),$(status_kib "$HPID" Threads),$(cpu_ticks "$HPID"),$(served)" >>"$SAMPLES"
  ((elapsed >= DURATION)) && break
  sleep "$((DURATION - elapsed < SAMPLE_EVERY ? DURATION - elapsed : SAMPLE_EVERY))"
done
WINDOW=$((SECONDS - start))

# Readings before the scrape (encoding 10k series allocates).
RSS=$(status_kib "$HPID" VmRSS)
HWM_RUN=$(status_kib "$HPID" VmHWM)
THREADS=$(status_kib "$HPID" Threads)
CPU_PCT=$(awk -v a="$TICKS0" -v b="$(cpu_ticks "$HPID")" -v hz="$CLK_TCK" -v w="$WINDOW" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / w }')
TCPU_PCT=$(awk -v a="$TTICKS0" -v b="$(cpu_ticks "$TARGET_PID")" -v hz="$CLK_TCK" -v w="$WINDOW" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / w }')
SERVED=$(( $(served) - SERVED0 ))
SCRAPE_T0=$(date +%s.%N)
curl -fsS --max-time 60 "http://127.0.0.1:$API_PORT/metrics" >"$TMP/metrics.txt"
SCRAPE_S=$(awk -v a="$SCRAPE_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
HWM=$(status_kib "$HPID" VmHWM)

# Lateness quantiles: the upper bound (`le`) of the first bucket whose cumulative count reaches q.
read -r LAT_COUNT LAT_MEAN P50 P99 LAT_BUCKETS < <(awk '
  /^homeostat_scheduler_lateness_seconds_bucket\{/ {
    match($0, /le="[^"]+"/); le[++n] = substr($0, RSTART + 4, RLENGTH - 5); cum[n] = $NF
  }
  /^homeostat_scheduler_lateness_seconds_count/ { count = $NF }
  /^homeostat_scheduler_lateness_seconds_sum/ { sum = $NF }
  function q(p,   i) { for (i = 1; i <= n; i++) if (cum[i] >= p * count) return le[i]; return "+Inf" }
  END {
    b = ""; for (i = 1; i <= n; i++) b = b (i > 1 ? "," : "") "\"" le[i] "\":" cum[i]
    printf "%d %.6f %s %s {%s}\n", count, count ? sum / count : 0, q(0.5), q(0.99), b
  }' "$TMP/metrics.txt")

# Runs per check (summed over statuses); checks missing from the metrics never ran.
awk '/^homeostat_check_runs_total\{/ {
    match($0, /check="[^"]+"/); c = substr($0, RSTART + 7, RLENGTH - 8)
    match($0, /status="[a-z]+"/); s = substr($0, RSTART + 8, RLENGTH - 9)
    runs[c] += $NF; st[s] += $NF
  }
  END {
    for (c in runs) print "check", c, runs[c]
    for (s in st) print "status", s, st[s]
  }' "$TMP/metrics.txt" >"$TMP/runs.txt"
read -r CHECKS_RAN RUNS_TOTAL RUNS_MIN RUNS_MAX STARVED_RAN < <(awk -v min="$MIN_RUNS" '
  $1 == "check" { n++; t += $3; if (lo == "" || $3 < lo) lo = $3; if ($3 > hi) hi = $3; if ($3 < min) s++ }
  END { printf "%d %d %d %d %d\n", n, t, n ? lo : 0, hi, s }' "$TMP/runs.txt")
NEVER_RAN=$((CHECKS - CHECKS_RAN))
((NEVER_RAN > 0)) && RUNS_MIN=0
STARVED=$((STARVED_RAN + NEVER_RAN))
status_runs() { awk -v s="$1" '$1 == "status" && $2 == s { print $3; f = 1 } END { if (!f) print 0 }' "$TMP/runs.txt"; }
RUNS_OK=$(status_runs ok)
RUNS_WARN=$(status_runs warning)
RUNS_CRIT=$(status_runs critical)
RUNS_UNK=$(status_runs unknown)
EXPECTED_RUNS=$(awk -v c="$CHECKS" -v w="$WINDOW" -v i="$INTERVAL" 'BEGIN { printf "%d", c * w / i }')

kill -TERM "$HPID"
t0=$(date +%s.%N)
for _ in $(seq 300); do kill -0 "$HPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$HPID" 2>/dev/null; then STOP_S=null; else STOP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'); fi

le_ok() { [[ "$1" != "+Inf" ]] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
P99_PASS=false; le_ok "$P99" "$GOAL_P99_S" && P99_PASS=true
RSS_PASS=false; ((RSS <= GOAL_RSS_KIB)) && RSS_PASS=true
STARVE_PASS=false; ((STARVED == 0)) && STARVE_PASS=true
num() { [[ "$1" == "+Inf" ]] && echo '"+Inf"' || echo "$1"; }

cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "checks": $CHECKS,
  "interval_s": $INTERVAL,
  "duration_s": $DURATION,
  "window_s": $WINDOW,
  "startup_to_metrics_s": $STARTUP_S,
  "lateness": {
    "note": "p50/p99 are upper bounds: the le of the first histogram bucket reaching the quantile",
    "count": $LAT_COUNT,
    "mean_s": $LAT_MEAN,
    "p50_le_s": $(num "$P50"),
    "p99_le_s": $(num "$P99"),
    "buckets_cumulative": $LAT_BUCKETS
  },
  "memory": {"rss_kib": $RSS, "hwm_kib_before_scrape": $HWM_RUN, "hwm_kib_after_scrape": $HWM, "threads": $THREADS},
  "cpu_percent_of_one_core": {"homeostat": $CPU_PCT, "bench_target": $TCPU_PCT},
  "scrape_s": $SCRAPE_S,
  "runs": {
    "total": $RUNS_TOTAL, "expected_approx": $EXPECTED_RUNS, "target_served": $SERVED,
    "ok": $RUNS_OK, "warning": $RUNS_WARN, "critical": $RUNS_CRIT, "unknown": $RUNS_UNK,
    "per_check_min": $RUNS_MIN, "per_check_max": $RUNS_MAX
  },
  "starvation": {"min_runs_required": $MIN_RUNS, "checks_below": $STARVED, "never_ran": $NEVER_RAN},
  "shutdown_s": $STOP_S,
  "goals": {
    "p99_lateness_s_max": $GOAL_P99_S, "p99_pass": $P99_PASS,
    "rss_kib_max": $GOAL_RSS_KIB, "rss_pass": $RSS_PASS,
    "no_starvation_pass": $STARVE_PASS
  },
  "samples_csv": "$SAMPLES"
}
EOF

pf() { [[ "$1" == true ]] && echo PASS || echo FAIL; }
echo
echo "== scheduling scale: $CHECKS http checks / ${INTERVAL}s, ${WINDOW}s window =="
printf '%-40s %16s\n' "metric" "value"
printf '%-40s %16s\n' "lateness p50 (upper bound, s)" "<= $P50"
printf '%-40s %16s\n' "lateness p99 (upper bound, s)" "<= $P99"
printf '%-40s %16s\n' "lateness mean (exact, ms)" "$(awk -v m="$LAT_MEAN" 'BEGIN { printf "%.2f", m * 1000 }')"
printf '%-40s %16s\n' "VmRSS at end (MiB)" "$(mib "$RSS")"
printf '%-40s %16s\n' "VmHWM before / after scrape (MiB)" "$(mib "$HWM_RUN") / $(mib "$HWM")"
printf '%-40s %16s\n' "threads / startup to /metrics (s)" "$THREADS / $STARTUP_S"
printf '%-40s %16s\n' "CPU homeostat / target (% of a core)" "$CPU_PCT / $TCPU_PCT"
printf '%-40s %16s\n' "runs (expected ~ / target served)" "$RUNS_TOTAL ($EXPECTED_RUNS / $SERVED)"
printf '%-40s %16s\n' "runs ok/warn/crit/unknown" "$RUNS_OK/$RUNS_WARN/$RUNS_CRIT/$RUNS_UNK"
printf '%-40s %16s\n' "runs per check min / max" "$RUNS_MIN / $RUNS_MAX"
printf '%-40s %16s\n' "checks below $MIN_RUNS runs (never ran)" "$STARVED ($NEVER_RAN)"
printf '%-40s %16s\n' "/metrics scrape (s) / shutdown (s)" "$SCRAPE_S / $STOP_S"
printf '%-40s %16s\n' "goal p99 <= 100 ms" "$(pf "$P99_PASS")"
printf '%-40s %16s\n' "goal VmRSS <= 150 MiB" "$(pf "$RSS_PASS")"
printf '%-40s %16s\n' "goal no check starved" "$(pf "$STARVE_PASS")"
echo "results: $OUT_DIR/$NAME.json"
