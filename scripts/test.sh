#!/usr/bin/env bash
# The test command: formatting, lints (warnings are errors) and every test. Needs PostgreSQL on
# 127.0.0.1:5432 (or HOMEOSTAT_TEST_POSTGRES); .ci/run starts it when it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --all-targets --locked
