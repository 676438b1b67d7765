#!/usr/bin/env bash
# Every test of nvesec: formatting, lints, unit/property/integration tests of
# the whole workspace, then the root-only interop suite in network namespaces.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$NVESEC_ROOT"
require_root "scripts/test.sh"
install_deps

log "rustfmt"
cargo fmt --all -- --check
log "clippy"
cargo clippy --workspace --all-targets -- -D warnings
log "workspace tests"
cargo test --workspace --exclude nvesec-interop
log "interop suite (network namespaces, strongSwan)"
# Every scenario appends a `SCENARIO | name | result | figure` line here; the table is printed
# at the end (and also when a scenario failed, before the failure is reported).
export NVESEC_SCENARIO_LOG
NVESEC_SCENARIO_LOG=$(mktemp /tmp/nvesec-scenarios.XXXXXX)
status=0
cargo test -p nvesec-interop --no-fail-fast -- --test-threads=1 || status=$?
log "interop scenarios"
bash scripts/scenario-summary.sh "$NVESEC_SCENARIO_LOG" || { [ "$status" != 0 ] || status=1; }
rm -f "$NVESEC_SCENARIO_LOG"
[ "$status" = 0 ] || die "interop suite failed"
log "all tests passed"
