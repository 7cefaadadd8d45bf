#!/usr/bin/env bash
# Measures a repair storm: TARGETS (100) tcp checks (1 s) whose ports all close at once, max_concurrent_repairs = 4, one shared templated runbook that re-opens the port; then 3 unfixable targets against a per-target budget (max_attempts = 2).
# Goals: all TARGETS incidents resolved, never more than 4 repair steps at once, exactly one step execution per target, 100 repairs succeeded; unfixable targets run exactly 2 times, then a breaker.
# Run: bench/repair_storm.sh [HOMEOSTAT_BIN]   env: HOMEOSTAT_BIN, TARGETS=100, BASE_PORT=18300, CTL_PORT=18299, API_PORT=19961, STEP_SLEEP=0.5, STORM_TIMEOUT=180, OUT_DIR
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOMEOSTAT_BIN="${1:-${HOMEOSTAT_BIN:-$REPO_ROOT/target/release/homeostat}}"
TARGETS="${TARGETS:-100}"
UNFIXABLE=3
BASE_PORT="${BASE_PORT:-18300}"   # storm targets: BASE_PORT .. +TARGETS-1; unfixable: the next 3
CTL_PORT="${CTL_PORT:-18299}"     # the target server's control port
API_PORT="${API_PORT:-19961}"
STEP_SLEEP="${STEP_SLEEP:-0.5}"   # each repair step lasts at least this long, so overlaps are measurable
STORM_TIMEOUT="${STORM_TIMEOUT:-180}"
MAX_CONCURRENT=4
MAX_ATTEMPTS=2
PYTHON="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"
OUT_DIR="${OUT_DIR:-$REPO_ROOT/bench/out}"
NAME=repair_storm
TOKEN=x

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x "$HOMEOSTAT_BIN" ]] || die "no homeostat binary at $HOMEOSTAT_BIN (cargo build --release, or pass its path)"
[[ "$TARGETS" =~ ^[0-9]+$ && "$TARGETS" -ge 1 ]] || die "TARGETS must be a positive integer"
[[ -n "$PYTHON" ]] || die "python3 is required (target server)"
command -v jq >/dev/null || die "jq is required"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/homeostat-storm.XXXXXX")"
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

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
epoch() { date -d "$1" +%s.%N; }
api() { curl -fsS --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT$1"; }
api_post() { # PATH JSON → prints "HTTP_CODE BODY"
  local body code
  body="$(curl -sS --max-time 10 -o - -w '\n%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$API_PORT$1")"
  code="${body##*$'\n'}"
  echo "$code ${body%$'\n'*}"
}
ctl() { # COMMAND...: one line to the target server, prints its reply
  local reply
  exec 5<>"/dev/tcp/127.0.0.1/$CTL_PORT"
  echo "$*" >&5
  read -r -t 10 reply <&5 || reply=timeout
  exec 5>&-
  echo "$reply"
}
incidents() { api "/api/v1/incidents?limit=500"; }
# step executions in the step log: "start"/"end" lines with a timestamp and a port
executions() { awk -v p="$1" '$1 == "start" && $3 == p { n++ } END { print n + 0 }' "$STEP_LOG"; }

port_busy "$CTL_PORT" && die "port $CTL_PORT is already in use (set CTL_PORT)"
port_busy "$API_PORT" && die "port $API_PORT is already in use (set API_PORT)"
for ((i = 0; i < TARGETS + UNFIXABLE; i++)); do
  port_busy $((BASE_PORT + i)) && die "port $((BASE_PORT + i)) is already in use (set BASE_PORT)"
done

# --- targets: one asyncio process, every port opened/closed on command ----------------------------
cat >"$TMP/targets.py" <<'EOF'
"""Listeners on BASE..BASE+N-1 that accept and close; a control port takes one command a line:
open PORT | close PORT | close-range FROM TO | refuse PORT (its `open` then fails) | state."""
import asyncio, sys

base, n, ctl_port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
servers, refused = {}, set()

async def on_target(reader, writer):
    writer.close()

async def open_port(port):
    if port in refused:
        return "refused"
    if port not in servers:
        servers[port] = await asyncio.start_server(on_target, "127.0.0.1", port, reuse_address=True)
    return "ok"

async def close_port(port):
    server = servers.pop(port, None)
    if server is not None:
        server.close()
        for s in server.sockets:
            s.close()

async def on_control(reader, writer):
    while line := await reader.readline():
        cmd, *args = line.decode().split()
        try:
            if cmd == "open":
                reply = await open_port(int(args[0]))
            elif cmd == "close":
                await close_port(int(args[0])); reply = "ok"
            elif cmd == "close-range":
                for p in range(int(args[0]), int(args[1]) + 1):
                    await close_port(p)
                reply = "ok"
            elif cmd == "refuse":
                refused.add(int(args[0])); reply = "ok"
            elif cmd == "state":
                reply = "open=%d refused=%d" % (len(servers), len(refused))
            else:
                reply = "unknown"
        except Exception as e:  # report, keep serving
            reply = "error:%s" % e
        writer.write((reply + "\n").encode())
        await writer.drain()
    writer.close()

async def main():
    for p in range(base, base + n):
        await open_port(p)
    ctl = await asyncio.start_server(on_control, "127.0.0.1", ctl_port, reuse_address=True)
    print("ready", flush=True)
    await ctl.serve_forever()

asyncio.run(main())
EOF
"$PYTHON" "$TMP/targets.py" "$BASE_PORT" $((TARGETS + UNFIXABLE)) "$CTL_PORT" >"$TMP/targets.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do grep -q ready "$TMP/targets.log" 2>/dev/null && break; sleep 0.1; done
[[ "$(ctl state)" == "open=$((TARGETS + UNFIXABLE)) refused=0" ]] || die "target server did not come up: $(cat "$TMP/targets.log")"

# --- the repair step: logs start/end, lasts >= STEP_SLEEP, asks the target server to re-open -----
STEP_LOG="$TMP/steps.log"
: >"$STEP_LOG"
cat >"$TMP/reopen.sh" <<EOF
#!/bin/bash
# \$1 = port (from the template {{ check.labels.port }})
echo "start \$(date +%s.%N) \$1" >>"$STEP_LOG"
sleep $STEP_SLEEP
exec 3<>/dev/tcp/127.0.0.1/$CTL_PORT
echo "open \$1" >&3
read -r -t 5 reply <&3 || reply=timeout
echo "end \$(date +%s.%N) \$1 \$reply" >>"$STEP_LOG"
[ "\$reply" = ok ]
EOF
chmod 755 "$TMP/reopen.sh"

CONFIG="$TMP/homeostat.toml"
{
  printf '[server]\nlisten = "127.0.0.1:%s"\n\n' "$API_PORT"
  printf '[store]\nurl = "sqlite://%s/h.db"\n\n' "$TMP"
  printf '[policy]\nmode = "enforce"\nmax_concurrent_repairs = %s\nmax_repairs_per_hour = 10000\n\n' "$MAX_CONCURRENT"
  printf '[incidents]\nresolve_after_ok = 1\n\n'
  for ((i = 0; i < TARGETS + UNFIXABLE; i++)); do
    if ((i < TARGETS)); then name="$(printf 't%03d' "$i")"; else name="u$((i - TARGETS))"; fi
    printf '[[check]]\nname = "%s"\ntype = "tcp"\naddress = "127.0.0.1:%s"\ninterval = "1s"\ntimeout = "500ms"\n' "$name" $((BASE_PORT + i))
    printf 'failures_before_critical = 1\nremedy = ["reopen-port"]\nlabels = { port = "%s" }\n\n' $((BASE_PORT + i))
  done
  # No `verify`: the engine verifies the target check itself (one shared runbook for all targets).
  printf '[[runbook]]\nname = "reopen-port"\n'
  printf 'steps = [ { run = ["%s", "{{ check.labels.port }}"], timeout = "10s" } ]\n' "$TMP/reopen.sh"
  printf 'max_attempts = %s\nwindow = "1h"\ncooldown = "10m"\n' "$MAX_ATTEMPTS"
} >"$CONFIG"
"$HOMEOSTAT_BIN" check-config "$CONFIG" >/dev/null || die "homeostat rejected $CONFIG"

echo "homeostat: $HOMEOSTAT_BIN, $TARGETS storm targets + $UNFIXABLE unfixable, max_concurrent_repairs=$MAX_CONCURRENT"
HOMEOSTAT_ADMIN_TOKEN=$TOKEN "$HOMEOSTAT_BIN" run --config "$CONFIG" >"$TMP/homeostat.log" 2>&1 &
HPID=$!
PIDS+=("$HPID")
wait_http "http://127.0.0.1:$API_PORT/metrics" 30 || { tail -20 "$TMP/homeostat.log" >&2; die "homeostat did not come up"; }
sleep 3 # every check has run and is healthy
[[ "$(incidents | jq '.incidents | length')" == 0 ]] || die "incidents before the storm"

# --- phase 1: the storm ---------------------------------------------------------------------------
# Samplers: the status endpoint's running_repairs and repairs in running/verifying per the API.
SAMPLES="$TMP/samples.txt"
(
  while :; do
    s="$(api /api/v1/error-monitoring/status | jq -r '.running_repairs' 2>/dev/null || echo null)"
    r="$(api "/api/v1/repairs?limit=500" | jq '[.repairs[] | select(.state == "running" or .state == "verifying")] | length' 2>/dev/null || echo null)"
    echo "$(now) $s $r" >>"$SAMPLES"
    sleep 0.2
  done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")

T0="$(now)"
[[ "$(ctl close-range "$BASE_PORT" $((BASE_PORT + TARGETS - 1)))" == ok ]] || die "cannot close the targets"
echo "storm: $TARGETS ports closed at $T0"
STORM_DONE=false
deadline=$((SECONDS + STORM_TIMEOUT))
while ((SECONDS < deadline)); do
  resolved="$(incidents | jq '[.incidents[] | select(.check // "" | startswith("t")) | select(.state == "resolved" or .state == "closed")] | length')"
  if ((resolved >= TARGETS)); then STORM_DONE=true; break; fi
  sleep 0.5
done
T_ALL="$(now)"
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
sleep 2 # let stragglers (if any) show up in the log

incidents >"$TMP/incidents.json"
api "/api/v1/repairs?limit=500" >"$TMP/repairs.json"
STORM_WALL="$(since "$T0" "$T_ALL")"
# from the API: first failure → last resolution among storm incidents
read -r OPENED RESOLVED LAST_RESOLVED TTR_MED TTR_MAX < <(jq -r '
  [.incidents[] | select(.check // "" | startswith("t"))] as $i
  | ($i | map(.time_to_resolve_seconds // empty) | sort) as $t
  | [($i | length), ($i | map(select(.resolved_at != null)) | length),
     ($i | map(.resolved_at // empty) | max // "null"),
     (if ($t | length) > 0 then $t[(($t | length) / 2 | floor)] else "null" end),
     ($t | max // "null")] | @tsv' "$TMP/incidents.json")
LAST_RESOLVED_S=null
[[ "$LAST_RESOLVED" != null ]] && LAST_RESOLVED_S="$(since "$T0" "$(epoch "$LAST_RESOLVED")")"
STORM_REPAIRS="$(jq -c '[.repairs[] | select(.target // "" | startswith("t")) | .state] | group_by(.) | map({(.[0]): length}) | add // {}' "$TMP/repairs.json")"
STORM_SUCCEEDED="$(jq '[.repairs[] | select(.target // "" | startswith("t")) | select(.state == "succeeded")] | length' "$TMP/repairs.json")"

# overlap of step executions (start/end lines), and executions per storm target
read -r MAX_OVERLAP STEPS_RUN < <(awk '$1 == "start" { print $2, 1 } $1 == "end" { print $2, -1 }' "$STEP_LOG" |
  sort -g -k1,1 -k2,2n | awk '{ c += $2; if (c > m) m = c; if ($2 > 0) n++ } END { print m + 0, n + 0 }')
read -r EXEC_MIN EXEC_MAX TARGETS_TWICE TARGETS_NEVER < <(
  for ((i = 0; i < TARGETS; i++)); do executions $((BASE_PORT + i)); done |
    awk '{ if (NR == 1 || $1 < mn) mn = $1; if ($1 > mx) mx = $1; if ($1 > 1) t++; if ($1 == 0) z++ }
      END { print mn + 0, mx + 0, t + 0, z + 0 }')
read -r STATUS_MAX API_RUNNING_MAX N_SAMPLES < <(awk '$2 != "null" && $2 > s { s = $2 } $3 != "null" && $3 > r { r = $3 }
  END { print s + 0, r + 0, NR }' "$SAMPLES")
OPEN_AFTER="$(ctl state)"
echo "storm: resolved=$resolved/$TARGETS in ${STORM_WALL}s, max overlap $MAX_OVERLAP, steps $STEPS_RUN"

# --- phase 2: per-target budget (max_attempts = 2) on 3 unfixable targets --------------------------
U_FROM=$((BASE_PORT + TARGETS))
U_PORTS=()
for ((j = 0; j < UNFIXABLE; j++)); do
  p=$((U_FROM + j))
  U_PORTS+=("$p")
  ctl refuse "$p" >/dev/null
  ctl close "$p" >/dev/null
done
uincident() { incidents | jq -r --arg c "$1" '[.incidents[] | select(.check == $c)][0] | "\(.id) \(.state)"'; }
wait_incident_state() { # CHECK STATE SECONDS
  local deadline=$((SECONDS + $3)) id state
  while ((SECONDS < deadline)); do
    read -r id state < <(uincident "$1")
    [[ "$state" == "$2" ]] && { echo "$id"; return 0; }
    sleep 0.3
  done
  echo "$id"; return 1
}
# target's repairs finished (not queued/running/verifying/awaiting)
repairs_of() { api "/api/v1/repairs?limit=500" | jq -c --arg t "$1" '[.repairs[] | select(.target == $t)]'; }
wait_repairs_settled() { # CHECK COUNT SECONDS
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    repairs_of "$1" | jq -e --argjson n "$2" 'length >= $n and all(.[]; .state as $s
      | ["queued", "running", "verifying", "awaiting_approval"] | index($s) | not)' >/dev/null && return 0
    sleep 0.3
  done
  return 1
}
declare -A U_ID U_EVENTS
for ((j = 0; j < UNFIXABLE; j++)); do
  c="u$j"
  # attempt 1: automatic, fails (the step's `open` is refused) → escalated
  U_ID[$c]="$(wait_incident_state "$c" escalated 30)" || echo "warn: $c not escalated after the automatic attempt" >&2
  wait_repairs_settled "$c" 1 15 || echo "warn: $c attempt 1 did not settle" >&2
  # attempt 2: an operator retries the incident → runs, fails
  r2="$(api_post /api/v1/error-monitoring/repair-task "{\"incident_id\":\"${U_ID[$c]}\"}")"
  wait_repairs_settled "$c" 2 20 || echo "warn: $c attempt 2 did not settle" >&2
  wait_incident_state "$c" escalated 15 >/dev/null || true
  # attempt 3: budget exhausted → must not run; breaker opens
  r3="$(api_post /api/v1/error-monitoring/repair-task "{\"incident_id\":\"${U_ID[$c]}\"}")"
  wait_repairs_settled "$c" 3 20 || echo "warn: $c attempt 3 did not settle" >&2
  U_EVENTS[$c]="attempt2=${r2%% *} attempt3=${r3%% *}"
done
sleep 1
BREAKERS="$(api /api/v1/breakers)"
U_EXEC_BEFORE_BYPASS=()
for p in "${U_PORTS[@]}"; do U_EXEC_BEFORE_BYPASS+=("$(executions "$p")"); done
# With the breaker open, a runbook+target repair-task must be refused too ("budgets apply").
BYPASS_REPLY="$(api_post /api/v1/error-monitoring/repair-task '{"runbook":"reopen-port","target":"u0"}')"
wait_repairs_settled u0 4 20 || true
BYPASS_EXECUTED=$(($(executions "${U_PORTS[0]}") - U_EXEC_BEFORE_BYPASS[0]))
BYPASS_STATE="$(repairs_of u0 | jq -r 'sort_by(.started_at // "") | last | "\(.state): \(.error // "")"' 2>/dev/null || echo "?")"
api "/api/v1/repairs?limit=500" >"$TMP/repairs-final.json"
curl -fsS --max-time 10 "http://127.0.0.1:$API_PORT/metrics" >"$TMP/metrics.txt"

U_JSON="["
U_OK=true
for ((j = 0; j < UNFIXABLE; j++)); do
  c="u$j"
  states="$(jq -c --arg t "$c" '[.repairs[] | select(.target == $t)] | sort_by(.started_at // "") | map(.state)' "$TMP/repairs-final.json")"
  breaker="$(jq -c --arg t "$c" '[.breakers[] | select(.target == $t)][0] // null' <<<"$BREAKERS")"
  ex="${U_EXEC_BEFORE_BYPASS[$j]}"
  [[ "$ex" == "$MAX_ATTEMPTS" && "$breaker" != null ]] || U_OK=false
  ((j > 0)) && U_JSON+=","
  U_JSON+="{\"check\":\"$c\",\"step_executions\":$ex,\"repair_states\":$states,\"breaker\":$breaker,\"api\":\"${U_EVENTS[$c]}\"}"
  printf '  %s: executions=%s repairs=%s breaker=%s (%s)\n' "$c" "$ex" "$states" "$([[ $breaker != null ]] && echo open || echo none)" "${U_EVENTS[$c]}"
done
U_JSON+="]"

REPAIRS_METRIC="$(awk '/^homeostat_repairs_total\{/ { match($0, /outcome="[a-z_]+"/); o = substr($0, RSTART + 9, RLENGTH - 10); n[o] += $NF }
  END { s = ""; for (k in n) s = s sprintf("%s\"%s\":%d", (s == "" ? "" : ","), k, n[k]); print "{" s "}" }' "$TMP/metrics.txt")"

PASS_ALL=false PASS_CONC=false PASS_ONCE=false PASS_BUDGET=false PASS_BYPASS=false
[[ "$STORM_DONE" == true && "$STORM_SUCCEEDED" == "$TARGETS" ]] && PASS_ALL=true
((MAX_OVERLAP <= MAX_CONCURRENT && API_RUNNING_MAX <= MAX_CONCURRENT)) && PASS_CONC=true
[[ "$EXEC_MIN" == 1 && "$EXEC_MAX" == 1 ]] && PASS_ONCE=true
[[ "$U_OK" == true ]] && PASS_BUDGET=true
[[ "$BYPASS_EXECUTED" == 0 ]] && PASS_BYPASS=true
pf() { [[ "$1" == true ]] && echo PASS || echo FAIL; }

mkdir -p "$OUT_DIR"
cat >"$OUT_DIR/$NAME.json" <<EOF
{
  "benchmark": "$NAME",
  "binary": "$HOMEOSTAT_BIN",
  "targets": $TARGETS,
  "max_concurrent_repairs": $MAX_CONCURRENT,
  "step_sleep_s": $STEP_SLEEP,
  "storm": {
    "all_resolved": $STORM_DONE,
    "incidents_opened": $OPENED,
    "incidents_resolved": $RESOLVED,
    "wall_s_until_all_resolved_observed": $STORM_WALL,
    "close_to_last_resolved_at_s": $LAST_RESOLVED_S,
    "time_to_resolve_s": {"median": $TTR_MED, "max": $TTR_MAX},
    "repairs_by_state": $STORM_REPAIRS,
    "step_executions": $STEPS_RUN,
    "executions_per_target": {"min": $EXEC_MIN, "max": $EXEC_MAX, "targets_run_twice_or_more": $TARGETS_TWICE, "targets_never_run": $TARGETS_NEVER},
    "max_concurrent_steps_observed": $MAX_OVERLAP,
    "max_running_or_verifying_repairs_api": $API_RUNNING_MAX,
    "max_status_running_repairs": $STATUS_MAX,
    "status_samples": $N_SAMPLES,
    "target_server_after": "$OPEN_AFTER"
  },
  "budget": {
    "max_attempts": $MAX_ATTEMPTS,
    "unfixable": $U_JSON,
    "breakers": $BREAKERS,
    "manual_runbook_target_after_breaker": {"reply": $(jq -Rn --arg s "$BYPASS_REPLY" '$s'), "steps_executed": $BYPASS_EXECUTED, "last_repair": $(jq -Rn --arg s "$BYPASS_STATE" '$s')}
  },
  "repairs_total_metric": $REPAIRS_METRIC,
  "goals": {"all_repaired": $PASS_ALL, "never_more_than_4": $PASS_CONC, "once_per_target": $PASS_ONCE,
            "budget_then_breaker": $PASS_BUDGET, "breaker_holds_for_manual_runbook_repair": $PASS_BYPASS}
}
EOF

echo
echo "== repair storm: $TARGETS targets fail at once, max_concurrent_repairs=$MAX_CONCURRENT, step >= ${STEP_SLEEP}s =="
printf '%-52s %s\n' "metric" "value"
printf '%-52s %s\n' "incidents opened / resolved" "$OPENED / $RESOLVED"
printf '%-52s %s\n' "ports closed → all resolved (observed, s)" "$STORM_WALL"
printf '%-52s %s\n' "ports closed → last resolved_at (API, s)" "$LAST_RESOLVED_S"
printf '%-52s %s\n' "time_to_resolve median / max (s)" "$TTR_MED / $TTR_MAX"
printf '%-52s %s\n' "storm repairs by state" "$STORM_REPAIRS"
printf '%-52s %s\n' "step executions (per target min/max, twice, never)" "$STEPS_RUN ($EXEC_MIN/$EXEC_MAX, $TARGETS_TWICE, $TARGETS_NEVER)"
printf '%-52s %s\n' "max concurrent steps (step log)" "$MAX_OVERLAP"
printf '%-52s %s\n' "max repairs running|verifying (API samples)" "$API_RUNNING_MAX"
printf '%-52s %s\n' "max status.running_repairs ($N_SAMPLES samples)" "$STATUS_MAX"
printf '%-52s %s\n' "unfixable: executions each (max_attempts=$MAX_ATTEMPTS)" "${U_EXEC_BEFORE_BYPASS[*]}"
printf '%-52s %s\n' "open breakers" "$(jq '.breakers | length' <<<"$BREAKERS")"
printf '%-52s %s\n' "runbook+target repair-task with breaker open" "HTTP ${BYPASS_REPLY%% *}, steps executed: $BYPASS_EXECUTED ($BYPASS_STATE)"
printf '%-52s %s\n' "repairs_total by outcome (metric)" "$REPAIRS_METRIC"
printf '%-52s %s\n' "goal: all $TARGETS repaired (succeeded)" "$(pf $PASS_ALL)"
printf '%-52s %s\n' "goal: never more than $MAX_CONCURRENT at once" "$(pf $PASS_CONC)"
printf '%-52s %s\n' "goal: one execution per target" "$(pf $PASS_ONCE)"
printf '%-52s %s\n' "goal: $MAX_ATTEMPTS executions then breaker (unfixable)" "$(pf $PASS_BUDGET)"
printf '%-52s %s\n' "goal: breaker holds for runbook+target repair-task" "$(pf $PASS_BYPASS)"
echo "results: $OUT_DIR/$NAME.json"
