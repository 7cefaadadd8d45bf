#!/usr/bin/env bash
# Dashboard at scale: a daemon with 1,000 checks and 10,000 open incidents
# (examples/dashboard_scale.rs), measured in headless Chromium (tests/browser/scale.mjs): time
# to first paint, to the overview with data, to the history page, and the page's event-loop lag.
# Needs: cargo build --release --examples; /usr/bin/chromium; (cd tests/browser && npm ci).
# Usage: bench/dashboard_scale.sh [CHECKS] [INCIDENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
CHECKS=${1:-1000}
INCIDENTS=${2:-10000}
BIN=target/release/examples/dashboard_scale
[ -x "$BIN" ] || die "build first: cargo build --release --examples"
[ -d tests/browser/node_modules/playwright-core ] || die "run: (cd tests/browser && npm ci)"
mkdir -p bench/out
OUT=$(mktemp -d)
trap 'exec 3>&-; wait 2>/dev/null || true; rm -rf "$OUT"' EXIT
mkfifo "$OUT/stdin"
"$BIN" "$CHECKS" "$INCIDENTS" <"$OUT/stdin" >"$OUT/daemon.out" 2>"$OUT/daemon.err" &
exec 3>"$OUT/stdin"
for _ in $(seq 1 600); do
  grep -q '^READY ' "$OUT/daemon.out" 2>/dev/null && break
  sleep 0.2
done
URL=$(awk '/^READY /{print $2}' "$OUT/daemon.out")
[ -n "$URL" ] || die "the daemon did not start: $(tail -5 "$OUT/daemon.err")"
echo "daemon at $URL with $CHECKS checks and $INCIDENTS incidents"
RESULT=$(cd tests/browser && node scale.mjs "$URL" scale-token)
echo "$RESULT" | tee bench/out/dashboard_scale.json
