#!/usr/bin/env bash
# The main job of nvesec, end to end on one machine.
#
# Today the IKE daemon and the dataplane daemon are not wired together yet, so
# this demo does only what is real: it builds nvesec, enrolls two NVEs with
# certificates from nvesec-pki, and validates the example configuration with
# `nvesecd --check`. It never prints SAs or traffic that did not happen.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$NVESEC_ROOT"
require_root "scripts/demo.sh"
install_deps

log "building nvesec"
cargo build --workspace --bins -q
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d /tmp/nvesec-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

log "enrolling NVEs with nvesec-pki (a CA and two host certificates)"
"$bin/nvesec-pki" --gen --type ed25519 --outfile "$work/ca.key"
"$bin/nvesec-pki" --self --in "$work/ca.key" --dn "CN=nvesec demo CA" --ca --outfile "$work/ca.pem"
for host in nve1 nve2; do
    "$bin/nvesec-pki" enroll --name "$host" --dir "$work/$host" \
        --cacert "$work/ca.pem" --cakey "$work/ca.key"
    "$bin/nvesec-pki" --verify --in "$work/$host/x509/$host.pem" --cacert "$work/ca.pem"
    "$bin/nvesec-pki" --print --in "$work/$host/x509/$host.pem"
done

log "validating examples/etc/nvesec/nvesec.conf"
"$bin/nvesecd" --config examples/etc/nvesec/nvesec.conf --check

log "not yet: SAs between NVEs and tenant traffic (the daemon issue wires them together)"
