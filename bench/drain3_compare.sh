#!/usr/bin/env bash
# Compares `homeostat analyze` (Drain-style template miner) with Python Drain3 (TemplateMiner, default config) on >= MIN_LINES loghub-2k Content lines, then analyzes a ~1 GiB log.
# Goals: Homeostat >= 50x Drain3 lines/s and >= 1,000,000 lines/s on one core; peak RSS bounded on the 1 GiB file.
# Every input is analysed twice: `--threads 1` pinned to one CPU (PIN_CPU, like Drain3), and `--threads 2` on two CPUs
# (PAIR_CPUS: triage on one thread, clustering on the other); Drain3 is single-threaded Python either way.
# A third Drain3 run uses the masking rules of its own example configuration (reported beside the headline, not in the goal).
# Run: bench/drain3_compare.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, DATA_DIR=../shared/data/loghub-2k, MIN_LINES=1000000, BIG=1, BIG_BYTES=1073741824, PIN_CPU=1, PAIR_CPUS=0,1 ("" = skip the two-thread runs), RUN_TIMEOUT=1800, REPEATS=5, PAIRS=3, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
DATA_DIR="${DATA_DIR:-$REPO_ROOT/../shared/data/loghub-2k}"
MIN_LINES="${MIN_LINES:-1000000}"
BIG="${BIG:-1}"
BIG_BYTES="${BIG_BYTES:-1073741824}"
PIN_CPU="${PIN_CPU-1}"          # CPU to pin every one-thread run (and Drain3) to ("" = no pinning)
PAIR_CPUS="${PAIR_CPUS-0,1}"    # CPUs for the two-thread runs ("" = skip them)
RUN_TIMEOUT="${RUN_TIMEOUT:-1800}" # seconds, per measured run
REPEATS="${REPEATS:-5}"            # Homeostat's runs over the 1 M lines take ~0.1-0.2 s: the speed is the median of this many
PAIRS="${PAIRS:-3}"                # Drain3 runs, each followed at once by Homeostat's: the ratios are medians over the pairs
SAMPLE_EVERY="${SAMPLE_EVERY:-0.5}"
GOAL_RATIO=50
GOAL_LPS=1000000
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=drain3_compare

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release, or pass its path)"
[[ -d "$DATA_DIR" ]] || die "no loghub-2k data at $DATA_DIR (set DATA_DIR)"
[[ "$MIN_LINES" =~ ^[0-9]+$ && "$MIN_LINES" -ge 1 ]] || die "MIN_LINES must be a positive integer"
[[ "$BIG_BYTES" =~ ^[0-9]+$ ]] || die "BIG_BYTES must be an integer"
[[ "$BIG" == 0 || "$BIG" == 1 ]] || die "BIG must be 0 or 1"
[[ "$PAIRS" =~ ^[1-9][0-9]*$ && "$REPEATS" =~ ^[1-9][0-9]*$ ]] || die "PAIRS and REPEATS must be positive integers"
command -v python3 >/dev/null || die "python3 is required"
if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time (apt)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } >/dev/null || die "could not install GNU time"
fi
if ! python3 -c 'import drain3' 2>/dev/null; then
  echo "installing drain3 (pip)" >&2
  python3 -m pip install -q drain3 >/dev/null 2>&1 || die "pip install drain3 failed"
fi
PIN=()
[[ -n "$PIN_CPU" ]] && PIN=(taskset -c "$PIN_CPU")
ONE_PIN=("${PIN[@]}")
# on_pair CMD...: runs CMD with the measured processes pinned to PAIR_CPUS instead of PIN_CPU.
on_pair() {
  PIN=(taskset -c "$PAIR_CPUS")
  "$@"
  PIN=("${ONE_PIN[@]}")
}

temp_dir_with_cleanup drain3 # sets TMP and PIDS
HOMEOSTAT_BIN="$(realpath "$HOMEOSTAT_BIN")"
DATA_DIR="$(realpath "$DATA_DIR")"
cd "$TMP" # no stray homeostat.toml / drain3.ini is picked up from the caller's directory

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", a / b; else print "null" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "null" }'; }
mib() { if [[ "$1" == null ]]; then echo n/a; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi; }
maxrss_kib() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=d.get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2"; }

# run_measured TAG STDOUT_FILE CMD...: wall time (s) -> $TMP/TAG.wall, /usr/bin/time -v -> $TMP/TAG.time,
# VmRSS samples of the measured process -> $TMP/TAG.rss (elapsed_s rss_kib), bounded by RUN_TIMEOUT.
run_measured() {
  local tag="$1" out="$2" t0 t1 pid sampler rc=0
  shift 2
  t0=$(now)
  timeout --signal=KILL "$RUN_TIMEOUT" /usr/bin/time -v -o "$TMP/$tag.time" "${PIN[@]}" "$@" >"$out" 2>"$TMP/$tag.err" &
  pid=$!
  PIDS+=("$pid")
  sample_rss "$pid" >"$TMP/$tag.rss" &
  sampler=$!
  PIDS+=("$sampler")
  wait "$pid" || rc=$?
  t1=$(now)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sub "$t0" "$t1" >"$TMP/$tag.wall"
  if ((rc != 0)); then
    echo "error: $tag exited with status $rc (137 = killed after RUN_TIMEOUT=${RUN_TIMEOUT}s or OOM)" >&2
    tail -20 "$TMP/$tag.err" >&2
    return "$rc"
  fi
}
sample_rss() { # PID of `timeout`: prints "elapsed_s vmrss_kib" of the measured process every SAMPLE_EVERY s
  local child="" r start=$SECONDS
  while kill -0 "$1" 2>/dev/null; do
    # timeout -> time -> (taskset execs into) the measured process
    [[ -n "$child" ]] || child=$(pgrep -P "$(pgrep -P "$1" | head -1)" 2>/dev/null | head -1 || true)
    if [[ -n "$child" ]]; then
      r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$child/status" 2>/dev/null || true)
      if [[ -n "$r" ]]; then echo "$((SECONDS - start)) $r"; fi
    fi
    sleep "$SAMPLE_EVERY"
  done
}

# median_wall TAG CMD...: runs CMD REPEATS more times (pinned like run_measured, no RSS sampler,
# no /usr/bin/time) and writes the median wall time (s) to $TMP/TAG.wall. A run of ~0.1 s measured
# once is mostly noise: the sampler's own processes start during it, on the same two CPUs.
median_wall() {
  local tag="$1" t0 t1 i
  shift
  : >"$TMP/$tag.walls"
  for ((i = 0; i < REPEATS; i++)); do
    t0=$(now)
    timeout --signal=KILL "$RUN_TIMEOUT" "${PIN[@]}" "$@" >/dev/null 2>>"$TMP/$tag.err" || die "$tag: a repeated run failed"
    t1=$(now)
    echo "$(sub "$t0" "$t1")" >>"$TMP/$tag.walls"
  done
  median_of "$TMP/$tag.walls" >"$TMP/$tag.wall"
}
# median_of FILE: the median of the numbers in FILE, one per line ("null" lines ignored; null if none).
median_of() { { grep -v '^null$' "$1" || true; } | sort -g | awk '{ w[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print w[(NR + 1) / 2]; else printf "%.6f\n", (w[NR / 2] + w[NR / 2 + 1]) / 2 }'; }

# --- input: Content column of every *_structured.csv, repeated to >= MIN_LINES ------------------
INPUT="$TMP/loghub_content.log"
cat >"$TMP/build_input.py" <<'EOF'
import csv, glob, math, os, sys
data_dir, out, min_lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = sorted(glob.glob(os.path.join(data_dir, "*", "*_structured.csv")))
if not files:
    sys.exit(f"no *_structured.csv under {data_dir}")
lines = []
for path in files:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            # one record per line: fold any embedded line breaks
            lines.append(" ".join(row["Content"].splitlines()))
block = "\n".join(lines) + "\n"
reps = math.ceil(min_lines / len(lines))
with open(out, "w", encoding="utf-8") as f:
    for _ in range(reps):
        f.write(block)
print(len(files), len(lines), reps, len(lines) * reps)
EOF
read -r N_FILES N_BASE REPS N_LINES < <(python3 "$TMP/build_input.py" "$DATA_DIR" "$INPUT" "$MIN_LINES")
INPUT_BYTES=$(stat -c %s "$INPUT")
echo "input: $N_FILES datasets, $N_BASE distinct Content lines x $REPS = $N_LINES lines ($(mib $((INPUT_BYTES / 1024))) MiB)"

# --- Drain3 ----------------------------------------------------------------------------------
cat >"$TMP/drain3_run.py" <<'EOF'
import json, resource, sys, time
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
with open(sys.argv[1], encoding="utf-8") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
config = None  # default TemplateMinerConfig, no persistence handler
if len(sys.argv) > 2:  # an .ini file (the sections it lacks keep their defaults)
    config = TemplateMinerConfig()
    config.load(sys.argv[2])
    if not config.masking_instructions:  # load() only warns about a missing or bad file
        sys.exit(f"{sys.argv[2]}: no masking instructions loaded")
miner = TemplateMiner(config=config)
add = miner.add_log_message
t0 = time.perf_counter()
for line in lines:
    add(line)
dt = time.perf_counter() - t0
print(json.dumps({
    "lines": len(lines),
    "clusters": len(miner.drain.clusters),
    "loop_seconds": round(dt, 3),
    "lines_per_s": len(lines) / dt,
    "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "drain3_version": __import__("importlib.metadata").metadata.version("drain3"),
}))
EOF
echo "drain3: running over $N_LINES lines (pinned to CPU ${PIN_CPU:-none})..."
run_measured drain3 "$TMP/drain3.json" python3 "$TMP/drain3_run.py" "$INPUT"
D_LINES=$(jget "$TMP/drain3.json" lines)
D_CLUSTERS=$(jget "$TMP/drain3.json" clusters)
D_LOOP_S=$(jget "$TMP/drain3.json" loop_seconds)
D_VERSION=$(jget "$TMP/drain3.json" drain3_version)
D_LPS=$(div "$D_LINES" "$D_LOOP_S")
D_WALL=$(cat "$TMP/drain3.wall")
D_RSS=$(maxrss_kib "$TMP/drain3.time")
[[ "$D_LINES" == "$N_LINES" ]] || die "drain3 saw $D_LINES lines, expected $N_LINES"

# --- homeostat analyze -----------------------------------------------------------------------
echo "homeostat: analyze --format json..."
run_measured h_json "$TMP/h.json" "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 1
median_wall h_json "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 1
H_LINES=$(jget "$TMP/h.json" lines)
H_CLUSTERS=$(jget "$TMP/h.json" cluster_count)
H_INT_S=$(jget "$TMP/h.json" elapsed_seconds)
H_WALL=$(cat "$TMP/h_json.wall")
H_RSS=$(maxrss_kib "$TMP/h_json.time")
H_LPS_WALL=$(div "$H_LINES" "$H_WALL")
H_LPS_INT=$(div "$H_LINES" "$H_INT_S")
H_THREADS_NOTE=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$TMP/h_json.time")
[[ "$H_LINES" == "$N_LINES" ]] || echo "warning: homeostat reported lines=$H_LINES, expected $N_LINES" >&2

echo "homeostat: analyze --assignments > /dev/null..."
run_measured h_asg /dev/null "$HOMEOSTAT_BIN" analyze "$INPUT" --assignments --threads 1
HA_WALL=$(cat "$TMP/h_asg.wall")
HA_RSS=$(maxrss_kib "$TMP/h_asg.time")
HA_LPS=$(div "$N_LINES" "$HA_WALL")

T_LPS=null T_RATIO=null T_RSS=null T_CPU=null
if [[ -n "$PAIR_CPUS" ]]; then
  echo "homeostat: analyze --threads 2 on CPUs $PAIR_CPUS..."
  on_pair run_measured h2 "$TMP/h2.json" "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 2
  on_pair median_wall h2 "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 2
  [[ "$(jget "$TMP/h2.json" cluster_count)" == "$H_CLUSTERS" ]] || die "--threads 2 found other clusters than --threads 1"
  T_LPS=$(div "$(jget "$TMP/h2.json" lines)" "$(cat "$TMP/h2.wall")")
  T_RATIO=$(ratio "$T_LPS" "$D_LPS")
  T_RSS=$(maxrss_kib "$TMP/h2.time")
  T_CPU=$(awk -F': ' '/Percent of CPU/ { print $2 }' "$TMP/h2.time")
fi

# --- further pairs: a Drain3 run, then at once Homeostat's REPEATS runs ---------------------------
# This machine's speed drifts (up to 2x within minutes; a busy neighbour on the host slows
# Homeostat's tight loops more than Python's): a ratio is only fair between runs taken together.
# The runs above are pair 1; the ratios reported are the medians over PAIRS pairs.
echo "$(ratio "$H_LPS_WALL" "$D_LPS")" >"$TMP/pair_ratios1"
echo "$D_LPS" >"$TMP/pair_drain3_lps"
echo "$H_WALL" >"$TMP/pair_walls1"
if [[ -n "$PAIR_CPUS" ]]; then
  echo "$(ratio "$T_LPS" "$D_LPS")" >"$TMP/pair_ratios2"
  cat "$TMP/h2.wall" >"$TMP/pair_walls2"
fi
for ((p = 2; p <= PAIRS; p++)); do
  echo "pair $p of $PAIRS: drain3, then homeostat..."
  timeout --signal=KILL "$RUN_TIMEOUT" "${PIN[@]}" python3 "$TMP/drain3_run.py" "$INPUT" >"$TMP/drain3_p.json" 2>>"$TMP/drain3_p.err" ||
    die "drain3 (pair $p) failed: $(tail -5 "$TMP/drain3_p.err")"
  p_lps=$(div "$(jget "$TMP/drain3_p.json" lines)" "$(jget "$TMP/drain3_p.json" loop_seconds)")
  echo "$p_lps" >>"$TMP/pair_drain3_lps"
  median_wall h_p "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 1
  cat "$TMP/h_p.wall" >>"$TMP/pair_walls1"
  echo "$(ratio "$(div "$N_LINES" "$(cat "$TMP/h_p.wall")")" "$p_lps")" >>"$TMP/pair_ratios1"
  if [[ -n "$PAIR_CPUS" ]]; then
    on_pair median_wall h2_p "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 2
    cat "$TMP/h2_p.wall" >>"$TMP/pair_walls2"
    echo "$(ratio "$(div "$N_LINES" "$(cat "$TMP/h2_p.wall")")" "$p_lps")" >>"$TMP/pair_ratios2"
  fi
done
D_LPS=$(median_of "$TMP/pair_drain3_lps")
H_WALL=$(median_of "$TMP/pair_walls1")
H_LPS_WALL=$(div "$H_LINES" "$H_WALL")
PAIR_RATIOS1=$(paste -sd, "$TMP/pair_ratios1")
PAIR_RATIOS2=null
if [[ -n "$PAIR_CPUS" ]]; then
  T_LPS=$(div "$N_LINES" "$(median_of "$TMP/pair_walls2")")
  T_RATIO=$(median_of "$TMP/pair_ratios2")
  PAIR_RATIOS2="[$(paste -sd, "$TMP/pair_ratios2")]"
fi

# Drain3 again with masking, as Homeostat always masks: the masking rules of Drain3's own
# example configuration (examples/drain3.ini in its repository: ids, IPs, hex sequences, hex
# and decimal numbers), the rest of its configuration at the defaults. The headline ratio and
# the goal use the default (faster, unmasked) run above.
cat >"$TMP/drain3_masking.ini" <<'EOF'
[MASKING]
masking = [
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "mask_with": "ID"},
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)(\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3})((?=[^A-Za-z0-9])|$)", "mask_with": "IP"},
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "mask_with": "HEX"},
          {"regex_pattern":"((?<=[^A-Za-z0-9])|^)([\\-\\+]?\\d+)((?=[^A-Za-z0-9])|$)", "mask_with": "NUM"},
          {"regex_pattern":"(?<=executed cmd )(\".+?\")", "mask_with": "CMD"}
          ]
mask_prefix = <:
mask_suffix = :>
EOF
echo "drain3: again with its example masking rules..."
run_measured drain3_m "$TMP/drain3_m.json" python3 "$TMP/drain3_run.py" "$INPUT" "$TMP/drain3_masking.ini"
DM_LPS=$(div "$(jget "$TMP/drain3_m.json" lines)" "$(jget "$TMP/drain3_m.json" loop_seconds)")
DM_CLUSTERS=$(jget "$TMP/drain3_m.json" clusters)
[[ "$(jget "$TMP/drain3_m.json" lines)" == "$N_LINES" ]] || die "drain3 (masked) saw other than $N_LINES lines"
# Homeostat again at once, so that the masked ratio compares runs taken together (a pair).
echo "homeostat: right after the masked Drain3 run..."
median_wall h_m "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 1
H_M_LPS=$(div "$N_LINES" "$(cat "$TMP/h_m.wall")")
H2_M_LPS=null
if [[ -n "$PAIR_CPUS" ]]; then
  on_pair median_wall h2_m "$HOMEOSTAT_BIN" analyze "$INPUT" --format json --threads 2
  H2_M_LPS=$(div "$N_LINES" "$(cat "$TMP/h2_m.wall")")
fi

RATIO_WALL=$(median_of "$TMP/pair_ratios1")
M_RATIO=$(ratio "$H_M_LPS" "$DM_LPS")
M_T_RATIO=null
[[ "$H2_M_LPS" != null ]] && M_T_RATIO=$(ratio "$H2_M_LPS" "$DM_LPS")
# Homeostat's own elapsed time is from pair 1's first run: against pair 1's Drain3.
RATIO_INT=$(ratio "$H_LPS_INT" "$(head -n 1 "$TMP/pair_drain3_lps")")
PASS_RATIO=$(awk -v r="$RATIO_WALL" -v g="$GOAL_RATIO" 'BEGIN { print (r != "null" && r >= g) ? "true" : "false" }')
PASS_LPS=$(awk -v r="$H_LPS_WALL" -v g="$GOAL_LPS" 'BEGIN { print (r != "null" && r >= g) ? "true" : "false" }')

# --- the same lines made unique (" seq=N" appended): no exact repeats, so no line-memo hits ---
# Real logs repeat many messages verbatim (Homeostat remembers recent exact lines); this run
# shows the speed without that help.
UNIQ="$TMP/loghub_unique.log"
awk '{ print $0 " seq=" NR }' "$INPUT" >"$UNIQ"
echo "drain3: unique-lines variant..."
run_measured drain3_u "$TMP/drain3_u.json" python3 "$TMP/drain3_run.py" "$UNIQ"
U_D_LPS=$(div "$(jget "$TMP/drain3_u.json" lines)" "$(jget "$TMP/drain3_u.json" loop_seconds)")
U_D_CLUSTERS=$(jget "$TMP/drain3_u.json" clusters)
echo "homeostat: unique-lines variant..."
run_measured h_u "$TMP/h_u.json" "$HOMEOSTAT_BIN" analyze "$UNIQ" --format json --threads 1
median_wall h_u "$HOMEOSTAT_BIN" analyze "$UNIQ" --format json --threads 1
U_H_LPS=$(div "$(jget "$TMP/h_u.json" lines)" "$(cat "$TMP/h_u.wall")")
U_H_CLUSTERS=$(jget "$TMP/h_u.json" cluster_count)
U_RATIO=$(ratio "$U_H_LPS" "$U_D_LPS")
U_T_LPS=null U_T_RATIO=null
if [[ -n "$PAIR_CPUS" ]]; then
  echo "homeostat: unique-lines variant, --threads 2..."
  on_pair run_measured h_u2 "$TMP/h_u2.json" "$HOMEOSTAT_BIN" analyze "$UNIQ" --format json --threads 2
  on_pair median_wall h_u2 "$HOMEOSTAT_BIN" analyze "$UNIQ" --format json --threads 2
  U_T_LPS=$(div "$(jget "$TMP/h_u2.json" lines)" "$(cat "$TMP/h_u2.wall")")
  U_T_RATIO=$(ratio "$U_T_LPS" "$U_D_LPS")
fi
rm -f "$UNIQ"

# --- ~1 GiB log file ---------------------------------------------------------------------------
B_T_WALL=null B_T_LPS=null B_T_MBPS=null B_T_RSS=null
B_RAN=false B_BYTES=null B_LINES=null B_CLUSTERS=null B_WALL=null B_INT_S=null B_LPS=null B_MBPS=null B_RSS=null B_RSS_FIRST=null B_RSS_LAST=null
if [[ "$BIG" == 1 ]]; then
  BIGFILE="$TMP/big.log"
  cat >"$TMP/build_big.py" <<'EOF'
import random, re, sys
src, out, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = [l for l in open(src, encoding="utf-8").read().split("\n") if l]
base = list(dict.fromkeys(base))
rng = random.Random(42)
num = re.compile(r"\d+")
def ip():
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
# a pool of variants: every digit run re-randomized, every 3rd line gets a random client IP
pool = []
for _ in range(10):
    for l in base:
        v = num.sub(lambda m: str(rng.randrange(10 ** len(m.group()))), l)
        if rng.random() < 0.33:
            v += f" from {ip()}:{rng.randrange(1024, 65536)}"
        pool.append(v)
rng.shuffle(pool)
# each line is unique: ISO-ish timestamp + sequence number + a pool variant
written = n = 0
with open(out, "w", encoding="utf-8") as f:
    while written < target:
        buf = []
        for v in pool[:50000] if n % 2 == 0 else pool[50000:]:
            buf.append(f"2024-05-{1 + n // 86400000 % 28:02d}T{n // 3600000 % 24:02d}:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z seq={n} {v}\n")
            n += 1
        s = "".join(buf)
        f.write(s)
        written += len(s.encode())
print(n, written)
EOF
  echo "big: generating ~$(mib $((BIG_BYTES / 1024))) MiB log..."
  read -r B_LINES_GEN B_BYTES < <(python3 "$TMP/build_big.py" "$INPUT" "$BIGFILE" "$BIG_BYTES")
  rm -f "$INPUT" # disk: the 1M-line input is no longer needed
  echo "big: $B_LINES_GEN lines, $B_BYTES bytes; running analyze --format json..."
  run_measured big "$TMP/big.json" "$HOMEOSTAT_BIN" analyze "$BIGFILE" --format json --threads 1
  if [[ -n "$PAIR_CPUS" ]]; then
    echo "big: --threads 2..."
    on_pair run_measured big2 "$TMP/big2.json" "$HOMEOSTAT_BIN" analyze "$BIGFILE" --format json --threads 2
    B_T_WALL=$(cat "$TMP/big2.wall")
    B_T_LPS=$(div "$(jget "$TMP/big2.json" lines)" "$B_T_WALL")
    B_T_MBPS=$(awk -v b="$B_BYTES" -v s="$B_T_WALL" 'BEGIN { printf "%.1f", b / 1048576 / s }')
    B_T_RSS=$(maxrss_kib "$TMP/big2.time")
  fi
  rm -f "$BIGFILE"
  B_RAN=true
  B_LINES=$(jget "$TMP/big.json" lines)
  B_CLUSTERS=$(jget "$TMP/big.json" cluster_count)
  B_INT_S=$(jget "$TMP/big.json" elapsed_seconds)
  B_WALL=$(cat "$TMP/big.wall")
  B_LPS=$(div "$B_LINES" "$B_WALL")
  B_MBPS=$(awk -v b="$B_BYTES" -v s="$B_WALL" 'BEGIN { printf "%.1f", b / 1048576 / s }')
  B_RSS=$(maxrss_kib "$TMP/big.time")
  # RSS growth: median sample of the first vs last quarter of the run
  read -r B_RSS_FIRST B_RSS_LAST < <(awk '{ r[NR] = $2 } END {
      if (NR < 4) { print "null null"; exit }
      q = int(NR / 4); printf "%d %d\n", r[1 + int(q / 2)], r[NR - int(q / 2)] }' "$TMP/big.rss")
  [[ "$B_LINES" == "$B_LINES_GEN" ]] || echo "warning: homeostat reported lines=$B_LINES, generated $B_LINES_GEN" >&2
fi
PASS_BIG_RSS=null
[[ "$B_RAN" == true ]] && PASS_BIG_RSS=$(awk -v b="$B_RSS" -v s="$H_RSS" 'BEGIN { print (b <= 2 * s + 65536) ? "true" : "false" }')

# --- results ----------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
cp "$TMP/big.rss" "$OUT_DIR/$NAME.big_rss_samples.txt" 2>/dev/null || true
cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "pinned_cpu": "${PIN_CPU}",
  "homeostat_wall_is_median_of": $REPEATS,
  "pairs": {"count": $PAIRS, "drain3_lines_per_s": [$(paste -sd, "$TMP/pair_drain3_lps")], "ratios_one_thread": [$PAIR_RATIOS1], "ratios_two_threads": $PAIR_RATIOS2},
  "input": {"datasets": $N_FILES, "distinct_lines": $N_BASE, "repeats": $REPS, "lines": $N_LINES, "bytes": $INPUT_BYTES},
  "drain3": {
    "version": "$D_VERSION",
    "lines": $D_LINES,
    "clusters": $D_CLUSTERS,
    "loop_seconds_pair1": $D_LOOP_S,
    "lines_per_s": $D_LPS,
    "process_wall_seconds": $D_WALL,
    "max_rss_kib": $D_RSS
  },
  "drain3_masked": {"lines_per_s": $DM_LPS, "clusters": $DM_CLUSTERS, "homeostat_lines_per_s_right_after": {"one_thread": $H_M_LPS, "two_threads": $H2_M_LPS}, "ratio_one_thread": $M_RATIO, "ratio_two_threads": $M_T_RATIO},
  "homeostat": {
    "lines": $H_LINES,
    "clusters": $H_CLUSTERS,
    "wall_seconds": $H_WALL,
    "internal_elapsed_seconds": $H_INT_S,
    "lines_per_s_wall": $H_LPS_WALL,
    "lines_per_s_internal": $H_LPS_INT,
    "max_rss_kib": $H_RSS,
    "cpu_percent": "$H_THREADS_NOTE",
    "assignments": {"wall_seconds": $HA_WALL, "lines_per_s": $HA_LPS, "max_rss_kib": $HA_RSS}
  },
  "ratio": {"wall_vs_drain3_loop": $RATIO_WALL, "internal_vs_drain3_loop": $RATIO_INT},
  "two_threads": {
    "cpus": "$PAIR_CPUS",
    "lines_per_s_wall": $T_LPS, "ratio": $T_RATIO, "max_rss_kib": $T_RSS, "cpu_percent": "$T_CPU",
    "unique_lines_per_s_wall": $U_T_LPS, "unique_ratio": $U_T_RATIO,
    "big_wall_seconds": $B_T_WALL, "big_lines_per_s": $B_T_LPS, "big_mib_per_s": $B_T_MBPS, "big_max_rss_kib": $B_T_RSS
  },
  "unique_lines": {
    "drain3_lines_per_s": $U_D_LPS, "drain3_clusters": $U_D_CLUSTERS,
    "homeostat_lines_per_s_wall": $U_H_LPS, "homeostat_clusters": $U_H_CLUSTERS,
    "ratio": $U_RATIO
  },
  "big": {
    "ran": $B_RAN,
    "bytes": $B_BYTES,
    "lines": $B_LINES,
    "clusters": $B_CLUSTERS,
    "wall_seconds": $B_WALL,
    "internal_elapsed_seconds": $B_INT_S,
    "lines_per_s": $B_LPS,
    "mib_per_s": $B_MBPS,
    "max_rss_kib": $B_RSS,
    "rss_kib_early": $B_RSS_FIRST,
    "rss_kib_late": $B_RSS_LAST
  },
  "goal": {
    "ratio_min": $GOAL_RATIO, "ratio_pass": $PASS_RATIO,
    "lines_per_s_min": $GOAL_LPS, "lines_per_s_pass": $PASS_LPS,
    "big_rss_bounded_pass": $PASS_BIG_RSS
  }
}
EOF

yn() { case "$1" in true) echo PASS ;; null) echo n/a ;; *) echo FAIL ;; esac; }
echo
echo "== drain3 vs homeostat analyze: $N_LINES lines, CPU ${PIN_CPU:-unpinned} =="
printf '%-44s %14s %14s\n' "metric" "drain3" "homeostat"
printf '%-44s %14s %14s\n' "clusters" "$D_CLUSTERS" "$H_CLUSTERS"
printf '%-44s %14s %14s\n' "mining time (s) [drain3 1st loop / median wall]" "$D_LOOP_S" "$H_WALL"
printf '%-44s %14s %14s\n' "lines/s [drain3 loop / homeostat wall]" "$D_LPS" "$H_LPS_WALL"
printf '%-44s %14s %14s\n' "lines/s [homeostat internal elapsed]" "" "$H_LPS_INT"
printf '%-44s %14s %14s\n' "process wall (s)" "$D_WALL" "$H_WALL"
printf '%-44s %14s %14s\n' "peak RSS (MiB)" "$(mib "$D_RSS")" "$(mib "$H_RSS")"
printf '%-44s %14s %14s\n' "--assignments >/dev/null wall (s) / lines/s" "" "$HA_WALL / $HA_LPS"
printf '%-44s %14s %14s\n' "--assignments peak RSS (MiB)" "" "$(mib "$HA_RSS")"
printf '%-44s %29s\n' "speed-up (wall / internal)" "${RATIO_WALL}x / ${RATIO_INT}x"
printf '%-44s %29s\n' "speed-up in each of the $PAIRS pairs" "$PAIR_RATIOS1"
printf '%-44s %29s\n' "goal >= ${GOAL_RATIO}x Drain3 (one core)" "$(yn "$PASS_RATIO")"
printf '%-44s %14s %14s\n' "Drain3 + example masking: lines/s, clusters" "$DM_LPS" "$DM_CLUSTERS"
printf '%-44s %29s\n' "speed-up vs Drain3 + masking (one core)" "${M_RATIO}x"
printf '%-44s %14s %14s\n' "unique lines (seq=N): lines/s" "$U_D_LPS" "$U_H_LPS"
printf '%-44s %14s %14s\n' "unique lines (seq=N): clusters" "$U_D_CLUSTERS" "$U_H_CLUSTERS"
printf '%-44s %29s\n' "unique lines: speed-up" "${U_RATIO}x"
printf '%-44s %29s\n' "goal >= 1,000,000 lines/s (one core)" "$(yn "$PASS_LPS")"
if [[ -n "$PAIR_CPUS" ]]; then
  echo
  echo "== homeostat analyze --threads 2 on CPUs $PAIR_CPUS (Drain3 as above, one core) =="
  printf '%-44s %14s %14s\n' "lines/s [homeostat wall] / speed-up" "$T_LPS" "${T_RATIO}x"
  printf '%-44s %29s\n' "speed-up in each of the $PAIRS pairs" "$(paste -sd, "$TMP/pair_ratios2")"
  printf '%-44s %29s\n' "goal >= ${GOAL_RATIO}x Drain3 (two threads)" "$(yn "$(awk -v r="$T_RATIO" -v g="$GOAL_RATIO" 'BEGIN { print (r != "null" && r >= g) ? "true" : "false" }')")"
  printf '%-44s %29s\n' "speed-up vs Drain3 + masking" "${M_T_RATIO}x"
  printf '%-44s %14s %14s\n' "peak RSS (MiB) / CPU" "$(mib "$T_RSS")" "$T_CPU"
  printf '%-44s %14s %14s\n' "unique lines: lines/s / speed-up" "$U_T_LPS" "${U_T_RATIO}x"
fi
if [[ "$B_RAN" == true ]]; then
  echo
  echo "== homeostat analyze on a ~1 GiB log =="
  printf '%-44s %14s\n' "bytes / lines" "$B_BYTES / $B_LINES"
  printf '%-44s %14s\n' "clusters" "$B_CLUSTERS"
  printf '%-44s %14s\n' "wall (s) / internal (s)" "$B_WALL / $B_INT_S"
  printf '%-44s %14s\n' "lines/s / MiB/s" "$B_LPS / $B_MBPS"
  printf '%-44s %14s\n' "peak RSS (MiB)" "$(mib "$B_RSS")"
  printf '%-44s %14s\n' "VmRSS early / late in run (MiB)" "$(mib "$B_RSS_FIRST") / $(mib "$B_RSS_LAST")"
  printf '%-44s %14s\n' "RSS bounded (<= 2x 1M-line RSS + 64 MiB)" "$(yn "$PASS_BIG_RSS")"
  if [[ -n "$PAIR_CPUS" ]]; then
    printf '%-44s %14s\n' "--threads 2: wall (s) / lines/s" "$B_T_WALL / $B_T_LPS"
    printf '%-44s %14s\n' "--threads 2: MiB/s / peak RSS (MiB)" "$B_T_MBPS / $(mib "$B_T_RSS")"
  fi
else
  echo "(1 GiB test skipped: BIG=0)"
fi
echo "results: $OUT_DIR/$NAME.json"
