#!/usr/bin/env bash
# Handshake benchmark (issue 6): IKE SA + first GSA set-ups per second, nvesecd vs strongSwan.
#
# Two namespaces joined by a veth, nvesecd (+ gsa-dp) in each; `hs-load` keeps CONCURRENCY
# control connections open and runs that many initiate/terminate cycles in parallel for
# DURATION seconds (cycle i uses connection conn<i> with child c<i>: distinct PSK identities
# a<i>.bench/b<i>.bench between the same two addresses, so the IKE SAs are independent). Then
# the same loop between two strongSwan instances (charon-systemd, kernel-libipsec for the
# CHILD_SA, 64 threads, dos_protection = no) driven over VICI by the same tool. Both use PSK
# authentication and aes256gcm16-prfsha256-x25519 for the IKE SA, AES-256-GCM for the child.
#
#   DURATION=10     seconds per run
#   CONCURRENCY=32  parallel cycles (= connections per side)
#   ONLY=nvesec|strongswan   run one side only
#   SWAN_EXTRA='ikesa_table_size = 256'   more strongswan.conf settings for charon
#   SWAN_LOG=1      charon's log level (default 0); logs stay in the work dir with KEEP=1
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$NVESEC_ROOT"
require_root "scripts/bench-handshakes.sh"
install_deps

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-32}
[ "$CONCURRENCY" -ge 1 ] && [ "$CONCURRENCY" -le 254 ] || die "CONCURRENCY must be 1..254"
ONLY=${ONLY:-}
P=nvshb$$                 # namespace prefix, unique per run
PSK=nvesec-bench-psk-0123456789
work=$(mktemp -d /tmp/nvesec-bench.XXXXXX)
pids=()

cleanup() {
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    # Anything else still running in the namespaces, by pid, before they go.
    for ns in a b sa sb; do
        [ -e "/run/netns/$P-$ns" ] || continue
        for p in $(ip netns pids "$P-$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$P-$ns" 2>/dev/null
    done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building nvesecd, gsa-dp, hs-load (release)"
timeout 1800 cargo build --release -q -p nvesec -p nvesec-gsa-dp -p nvesec-interop --bins
bin="$CARGO_TARGET_DIR/release"

# pair NAME_A NAME_B NET: two namespaces joined by a veth. Cycle i runs between NET.0.i (A)
# and NET.1.i (B): nvesecd (like charon) picks the responder's connection by the peer's
# address, and sends from a wildcard socket, so each pair gets a host route with that
# source address.
pair() {
    local i
    ip netns add "$P-$1"
    ip netns add "$P-$2"
    ip link add "$P-v$1" netns "$P-$1" type veth peer name "$P-v$2" netns "$P-$2"
    for n in "$1" "$2"; do
        ip -n "$P-$n" link set lo up
        ip -n "$P-$n" link set "$P-v$n" up
    done
    for i in $(seq 1 "$CONCURRENCY"); do
        ip -n "$P-$1" addr add "$3.0.$i/16" dev "$P-v$1"
        ip -n "$P-$2" addr add "$3.1.$i/16" dev "$P-v$2"
        ip -n "$P-$1" route add "$3.1.$i/32" dev "$P-v$1" src "$3.0.$i"
        ip -n "$P-$2" route add "$3.0.$i/32" dev "$P-v$2" src "$3.1.$i"
    done
}

# --- nvesec ---------------------------------------------------------------------------------
# nvesec_conf SELF PEER NET: CONCURRENCY connections, PSK ids SELF<i>.bench.
nvesec_conf() {
    local self=$1 peer=$2 i l=0 r=1
    [ "$self" = a ] || { l=1; r=0; }
    echo "connections {"
    for i in $(seq 1 "$CONCURRENCY"); do
        cat <<EOF
    conn$i {
        local_addrs = $3.$l.$i
        remote_addrs = $3.$r.$i
        proposals = aes256gcm16-prfsha256-x25519
        local {
            auth = psk
            id = $self$i.bench
        }
        remote {
            auth = psk
            id = $peer$i.bench
        }
        children {
            c$i {
                vnis = $((1000 + i))
                gsa_proposals = aes256gcm16
            }
        }
    }
EOF
    done
    echo "}"
    echo "secrets {"
    echo "    ike-bench {"
    echo "        secret = $PSK"
    echo "    }"
    echo "}"
}

start_nvesec() { # start_nvesec SIDE
    local d="$work/$1" ns="$P-$1"
    mkdir -p "$d"
    "$bin/nvesecd" --config "$d/nvesec.conf" --check >/dev/null || die "nvesec.conf of $1 invalid"
    mapfile -t dpargs < <("$bin/nvesecd" --config "$d/nvesec.conf" --dp-args)
    # --foreground: $! is the daemon itself (without it gsa-dp forks and $! exits).
    ip netns exec "$ns" "$bin/gsa-dp" --foreground --socket "$d/dp.sock" "${dpargs[@]}" >"$d/gsa-dp.out" 2>"$d/gsa-dp.log" &
    pids+=($!)
    ip netns exec "$ns" "$bin/nvesecd" --config "$d/nvesec.conf" --dp-socket "$d/dp.sock" \
        --ctl-socket "$d/ctl.sock" --debug 0 2>"$d/nvesecd.log" &
    pids+=($!)
}

wait_socket() { # wait_socket PATH LOG
    for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.1; done
    cat "$2" >&2
    die "$1 did not appear"
}

run_nvesec() {
    pair a b 10.77
    mkdir -p "$work/a" "$work/b"
    nvesec_conf a b 10.77 >"$work/a/nvesec.conf"
    nvesec_conf b a 10.77 >"$work/b/nvesec.conf"
    start_nvesec a
    start_nvesec b
    wait_socket "$work/a/ctl.sock" "$work/a/nvesecd.log"
    wait_socket "$work/b/ctl.sock" "$work/b/nvesecd.log"
    sleep 1 # let both connect to their gsa-dp
    log "nvesec: $CONCURRENCY concurrent initiate/terminate cycles for ${DURATION}s"
    timeout $((DURATION + 60)) "$bin/hs-load" --nvesec "$work/a/ctl.sock" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" | tee "$work/nvesec.result"
}

# --- strongSwan -------------------------------------------------------------------------------
SWAN_PLUGINS="random nonce openssl aes gcm sha1 sha2 hmac kdf curve25519 x509 pem pkcs1 pkcs8 \
pubkey constraints kernel-libipsec kernel-netlink socket-default vici"

swan_conf() { # swan_conf SELF PEER NET -> swanctl.conf, as nvesec_conf
    local self=$1 peer=$2 i l=0 r=1
    [ "$self" = a ] || { l=1; r=0; }
    echo "connections {"
    for i in $(seq 1 "$CONCURRENCY"); do
        cat <<EOF
    conn$i {
        local_addrs = $3.$l.$i
        remote_addrs = $3.$r.$i
        proposals = aes256gcm16-prfsha256-x25519
        local { auth = psk
            id = $self$i.bench }
        remote { auth = psk
            id = $peer$i.bench }
        children {
            c$i {
                esp_proposals = aes256gcm16
                local_ts = 10.100.$l.$i/32
                remote_ts = 10.100.$r.$i/32
            }
        }
    }
EOF
    done
    echo "}"
    echo "secrets { ike-bench { secret = $PSK } }"
}

start_charon() { # start_charon SIDE
    local d="$work/$1"
    mkdir -p "$d"
    cat >"$d/strongswan.conf" <<EOF
charon-systemd {
    load = $SWAN_PLUGINS
    threads = 64
    dos_protection = no
    ${SWAN_EXTRA:-}
    install_routes = no
    install_virtual_ip = no
    plugins { vici { socket = unix://$d/charon.vici } }
    journal { default = -1 }
    filelog { main { path = $d/charon.log
        default = ${SWAN_LOG:-0}
        flush_line = yes } }
}
swanctl { load = random nonce openssl pem pkcs1 pkcs8 x509 curve25519 }
EOF
    STRONGSWAN_CONF="$d/strongswan.conf" ip netns exec "$P-$1" /usr/sbin/charon-systemd >"$d/charon.out" 2>&1 &
    pids+=($!)
}

swanctl_at() { # swanctl_at SIDE ARGS...
    local d="$work/$1"; shift
    STRONGSWAN_CONF="$d/strongswan.conf" swanctl "$@" --uri "unix://$d/charon.vici"
}

run_strongswan() {
    pair sa sb 10.78
    mkdir -p "$work/sa" "$work/sb"
    swan_conf a b 10.78 >"$work/sa/swanctl.conf"
    swan_conf b a 10.78 >"$work/sb/swanctl.conf"
    # kernel-libipsec routes each CHILD_SA's remote TS via ipsec0 with the local TS as
    # source: the local TS addresses must exist.
    for i in $(seq 1 "$CONCURRENCY"); do
        ip -n "$P-sa" addr add "10.100.0.$i/32" dev lo
        ip -n "$P-sb" addr add "10.100.1.$i/32" dev lo
    done
    start_charon sa
    start_charon sb
    for s in sa sb; do
        wait_socket "$work/$s/charon.vici" "$work/$s/charon.out"
        sleep 0.3
        swanctl_at "$s" --load-all --file "$work/$s/swanctl.conf" >"$work/$s/load.out" 2>&1 \
            || { cat "$work/$s/load.out" "$work/$s/charon.log"; die "swanctl --load-all failed on $s"; }
    done
    log "strongSwan: $CONCURRENCY concurrent initiate/terminate cycles for ${DURATION}s (VICI)"
    timeout $((DURATION + 60)) "$bin/hs-load" --vici "$work/sa/charon.vici" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" | tee "$work/strongswan.result"
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1"; }

[ "$ONLY" = strongswan ] || run_nvesec
[ "$ONLY" = nvesec ] || run_strongswan
if [ -z "$ONLY" ]; then
    n_rate=$(field "$work/nvesec.result" rate)
    s_rate=$(field "$work/strongswan.result" rate)
    n_med=$(field "$work/nvesec.result" median_ms)
    s_med=$(field "$work/strongswan.result" median_ms)
    awk -v nr="$n_rate" -v sr="$s_rate" -v nm="$n_med" -v sm="$s_med" 'BEGIN {
        printf "nvesec: %.1f set-ups/s, median initiate %.2f ms; strongSwan: %.1f set-ups/s, median %.2f ms\n", nr, nm, sr, sm
        printf "ratio: rate nvesec/strongSwan = %.2fx (target >= 4), median latency nvesec/strongSwan = %.2f (target <= 1)\n", (sr > 0 ? nr / sr : 0), (sm > 0 ? nm / sm : 0)
    }'
fi
