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
cargo test -p nvesec-interop -- --test-threads=1
log "all tests passed"
