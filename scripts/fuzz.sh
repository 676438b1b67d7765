#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each).
# Needs the nightly toolchain; installs cargo-fuzz from crates.io if missing.
#   scripts/fuzz.sh [SECONDS]
# Targets come from each fuzz crate's Cargo.toml (cargo fuzz list); ikev2's engine_null builds
# nvesec-ikev2 with the INSECURE 'fuzzing' feature (null suite), only inside ikev2/fuzz.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
secs=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for dir in conf pki ikev2 gsa-dp .; do
    [ -d "$NVESEC_ROOT/$dir/fuzz" ] || continue
    (cd "$NVESEC_ROOT/$dir" && for t in $(cargo +nightly fuzz list); do
        log "fuzz $dir/$t for ${secs}s"
        cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
    done)
done
