#!/usr/bin/env bash
# Measures live tailing throughput of `homeostat run`: a writer appends LINES Loghub Content lines to a `[[log]]` source's file as fast as it can; the time until homeostat_log_lines_total{source} reaches LINES gives lines/s; then the same with a rename rotation halfway (no line may be lost).
# Goals: >= 250,000 lines/s consumed by one source (plain format, default alert rules), peak RSS <= 100 MiB, rotation: counter == lines written.
# Run: bench/tail_throughput.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, DATA_DIR=../shared/data/loghub-2k, LINES=2000000, API_PORT=19910, PHASE_TIMEOUT=600, SAMPLE_EVERY=0.1, KEEP_TMP=0, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
DATA_DIR="${DATA_DIR:-$REPO_ROOT/../shared/data/loghub-2k}"
LINES="${LINES:-2000000}"
API_PORT="${API_PORT:-19910}"
PHASE_TIMEOUT="${PHASE_TIMEOUT:-600}" # seconds, per phase (write + drain)
SAMPLE_EVERY="${SAMPLE_EVERY:-0.1}"
GOAL_LPS=250000
GOAL_RSS_KIB=$((100 * 1024))
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=tail_throughput

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release --bin homeostat, or pass its path)"
[[ -d "$DATA_DIR" ]] || die "no loghub-2k data at $DATA_DIR (set DATA_DIR)"
[[ "$LINES" =~ ^[0-9]+$ && "$LINES" -ge 1000 ]] || die "LINES must be an integer >= 1000"
[[ "$PHASE_TIMEOUT" =~ ^[0-9]+$ && "$PHASE_TIMEOUT" -ge 10 ]] || die "PHASE_TIMEOUT must be an integer >= 10"
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"
port_busy "$API_PORT" && die "port $API_PORT is already in use (set API_PORT)"

temp_dir_with_cleanup tail # sets TMP and PIDS
HOMEOSTAT_BIN="$(realpath "$HOMEOSTAT_BIN")"
DATA_DIR="$(realpath "$DATA_DIR")"
cd "$TMP" # no stray homeostat.toml is picked up from the caller's directory

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "null" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# --- input: Content column of every *_structured.csv, repeated, exactly LINES lines ------------
INPUT="$TMP/input.log"
cat >"$TMP/build_input.py" <<'EOF'
import csv, glob, os, sys
data_dir, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(glob.glob(os.path.join(data_dir, "*", "*_structured.csv")))
if not files:
    sys.exit(f"no *_structured.csv under {data_dir}")
lines = []
for path in files:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            # one record per line: fold embedded line breaks; an empty line is not a record
            lines.append(" ".join(row["Content"].splitlines()) or "-")
with open(out, "w", encoding="utf-8") as f:
    for i in range(n):
        f.write(lines[i % len(lines)] + "\n")
print(len(files), len(lines))
EOF
read -r N_FILES N_BASE < <(python3 "$TMP/build_input.py" "$DATA_DIR" "$INPUT" "$LINES")
INPUT_BYTES=$(stat -c %s "$INPUT")
echo "input: $N_FILES datasets, $N_BASE distinct Content lines, $LINES lines ($(mib $((INPUT_BYTES / 1024))) MiB)"

# The writer: appends INPUT to LOG in 1,000-line writes as fast as it can (append mode, as
# services do); with ROTATE_AT > 0 it renames LOG to LOG.1 after that many lines and goes on
# writing to a new LOG. Prints the wall time when it is done.
cat >"$TMP/writer.py" <<'EOF'
import os, sys, time
src, log, rotate_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = open(log, "ab", buffering=0)
batch, n = [], 0
def flush():
    out.write(b"".join(batch))
    batch.clear()
with open(src, "rb") as f:
    for line in f:
        batch.append(line)
        n += 1
        if n == rotate_at:
            flush()
            os.rename(log, log + ".1")
            out.close()
            out = open(log, "ab", buffering=0)
        elif len(batch) == 1000:
            flush()
flush()
out.close()
print(f"{time.time():.3f} {n}")
EOF

# --- the daemon: two sources, each on its own (empty) file -----------------------------------
mkdir -p "$TMP/plain" "$TMP/rotated"
: >"$TMP/plain/app.log"
: >"$TMP/rotated/app.log"
CONFIG="$TMP/homeostat.toml"
cat >"$CONFIG" <<EOF
[server]
listen = "127.0.0.1:$API_PORT"

[store]
url = "sqlite://$TMP/h.db"

[[log]]
name = "plain"
path = "$TMP/plain/app.log"
from = "start"

[[log]]
name = "rotated"
path = "$TMP/rotated/app.log"
from = "start"
EOF
"$HOMEOSTAT_BIN" check-config "$CONFIG" >/dev/null || die "config rejected"
HOMEOSTAT_ADMIN_TOKEN="bench-$$" "$HOMEOSTAT_BIN" run --config "$CONFIG" >"$TMP/homeostat.log" 2>&1 &
DAEMON=$!
PIDS+=("$DAEMON")
wait_http "http://127.0.0.1:$API_PORT/metrics" 30 || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat did not come up"; }
RSS_START=$(status_kib "$DAEMON" VmRSS)

lines_read() { # SOURCE: homeostat_log_lines_total{source} (0 before the first line)
  curl -fsS --max-time 5 "http://127.0.0.1:$API_PORT/metrics" |
    awk -v m="homeostat_log_lines_total{source=\"$1\"}" '$1 == m { v = $2 } END { print v + 0 }'
}

# run_phase SOURCE ROTATE_AT: writes LINES lines to SOURCE's file and waits until the daemon has
# read them all (or PHASE_TIMEOUT). Sets P_WRITE_S, P_DRAIN_S, P_READ, P_RSS_MAX, P_CPU_S.
run_phase() {
  local source="$1" rotate_at="$2" t0 t_done deadline seen=0 rss cpu0 writer
  cpu0=$(cpu_s "$DAEMON")
  P_RSS_MAX=$(status_kib "$DAEMON" VmRSS)
  t0=$(now)
  python3 "$TMP/writer.py" "$INPUT" "$TMP/$source/app.log" "$rotate_at" >"$TMP/$source.writer" &
  writer=$!
  PIDS+=("$writer")
  deadline=$((SECONDS + PHASE_TIMEOUT))
  while ((SECONDS < deadline)); do
    seen=$(lines_read "$source")
    rss=$(status_kib "$DAEMON" VmRSS)
    ((rss > P_RSS_MAX)) && P_RSS_MAX=$rss
    ((seen >= LINES)) && break
    sleep "$SAMPLE_EVERY"
  done
  t_done=$(now)
  wait "$writer" || die "the $source writer failed"
  read -r P_WRITER_END P_WRITTEN <"$TMP/$source.writer"
  [[ "$P_WRITTEN" == "$LINES" ]] || die "the $source writer wrote $P_WRITTEN lines, expected $LINES"
  ((seen >= LINES)) || echo "warning: $source: only $seen of $LINES lines read within ${PHASE_TIMEOUT}s" >&2
  # A line read twice would show as more than written: give it a moment to show.
  sleep 1
  P_READ=$(lines_read "$source")
  P_WRITE_S=$(sub "$t0" "$P_WRITER_END")
  P_DRAIN_S=$(sub "$t0" "$t_done")
  P_CPU_S=$(awk -v a="$cpu0" -v b="$(cpu_s "$DAEMON")" 'BEGIN { printf "%.2f", b - a }')
}

echo "phase 1: $LINES lines to one file (source plain)..."
run_phase plain 0
A_WRITE_S=$P_WRITE_S A_DRAIN_S=$P_DRAIN_S A_READ=$P_READ A_RSS=$P_RSS_MAX A_CPU=$P_CPU_S
A_LPS=$(div "$LINES" "$A_DRAIN_S")
echo "phase 2: $LINES lines, renamed to app.log.1 after $((LINES / 2)) (source rotated)..."
run_phase rotated $((LINES / 2))
B_WRITE_S=$P_WRITE_S B_DRAIN_S=$P_DRAIN_S B_READ=$P_READ B_RSS=$P_RSS_MAX B_CPU=$P_CPU_S
B_LPS=$(div "$LINES" "$B_DRAIN_S")
[[ -f "$TMP/rotated/app.log.1" ]] || die "the rotation did not happen"
PEAK_RSS=$(status_kib "$DAEMON" VmHWM)
THREADS=$(status_kib "$DAEMON" Threads)

pass() { if [[ "$1" == true ]]; then echo PASS; else echo FAIL; fi; }
PASS_LPS=$(awk -v a="$A_LPS" -v b="$B_LPS" -v g="$GOAL_LPS" 'BEGIN { print (a != "null" && b != "null" && a >= g && b >= g) ? "true" : "false" }')
PASS_RSS=$( ((PEAK_RSS <= GOAL_RSS_KIB)) && echo true || echo false)
PASS_EXACT=$( ((A_READ == LINES && B_READ == LINES)) && echo true || echo false)

mkdir -p "$OUT_DIR"
cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "input": {"datasets": $N_FILES, "distinct_lines": $N_BASE, "lines": $LINES, "bytes": $INPUT_BYTES},
  "plain": {"lines_read": $A_READ, "writer_seconds": $A_WRITE_S, "consumed_seconds": $A_DRAIN_S, "lines_per_s": $A_LPS, "daemon_cpu_seconds": $A_CPU, "max_rss_kib": $A_RSS},
  "rotated": {"lines_read": $B_READ, "writer_seconds": $B_WRITE_S, "consumed_seconds": $B_DRAIN_S, "lines_per_s": $B_LPS, "daemon_cpu_seconds": $B_CPU, "max_rss_kib": $B_RSS},
  "daemon": {"rss_kib_at_start": $RSS_START, "peak_rss_kib": $PEAK_RSS, "threads": $THREADS},
  "goal": {
    "lines_per_s_min": $GOAL_LPS, "lines_per_s_pass": $PASS_LPS,
    "peak_rss_kib_max": $GOAL_RSS_KIB, "peak_rss_pass": $PASS_RSS,
    "every_line_once_pass": $PASS_EXACT
  }
}
EOF

echo
echo "== homeostat run: live tailing of $LINES Loghub lines per phase (writer and daemon share the machine) =="
printf '%-40s %16s %16s\n' "metric" "one file" "rename halfway"
printf '%-40s %16s %16s\n' "lines read / written" "$A_READ / $LINES" "$B_READ / $LINES"
printf '%-40s %16s %16s\n' "writer done after (s)" "$A_WRITE_S" "$B_WRITE_S"
printf '%-40s %16s %16s\n' "all lines read after (s)" "$A_DRAIN_S" "$B_DRAIN_S"
printf '%-40s %16s %16s\n' "lines/s (written -> read)" "$A_LPS" "$B_LPS"
printf '%-40s %16s %16s\n' "daemon CPU (s)" "$A_CPU" "$B_CPU"
printf '%-40s %16s %16s\n' "daemon max VmRSS in phase (MiB)" "$(mib "$A_RSS")" "$(mib "$B_RSS")"
printf '%-40s %33s\n' "daemon RSS at start / peak VmHWM (MiB)" "$(mib "$RSS_START") / $(mib "$PEAK_RSS")"
printf '%-40s %33s\n' "goal >= $GOAL_LPS lines/s" "$(pass "$PASS_LPS")"
printf '%-40s %33s\n' "goal peak RSS <= $(mib "$GOAL_RSS_KIB") MiB" "$(pass "$PASS_RSS")"
printf '%-40s %33s\n' "goal every line read once" "$(pass "$PASS_EXACT")"
echo "results: $OUT_DIR/$NAME.json"
