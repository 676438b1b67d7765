#!/usr/bin/env bash
# gsa-dp throughput in network namespaces (needs root).
#
#   ns A [tun nvb0 172.16.0.1] -- gsa-dp -- veth 10.200.0.1 <====> 10.200.0.2 veth -- gsa-dp -- [tun nvb0 172.16.0.2] ns B
#
# The same iperf3 runs (TCP 1 stream, TCP 4 streams, UDP 64-byte datagrams at full speed) over:
#   bare      the veth itself (underlay addresses, no tunnel at all)
#   bypass    gsa-dp, BYPASS policy (Geneve, no crypto)
#   geo       gsa-dp, SECURE policy with one GEO (AES-128-GCM via ring, replay window),
#             GSAs installed by hand through the keying socket
#   geo-wN    the same with N data workers (multi-queue tuns, SO_REUSEPORT sockets)
#   libipsec  strongSwan charon with kernel-libipsec (userspace ESP, AES-128-GCM)
#   wireguard Debian's wireguard-go (userspace WireGuard, ChaCha20-Poly1305; the 2022 release,
#             without the tun offloads wireguard-go gained in 2023)
# Every figure and every ratio is printed, each ratio on a line containing "ratio".
#
# Usage: sudo gsa-dp/bench/netns-throughput.sh
# Environment:
#   DURATION=10        seconds per iperf3 run (DURATION=3 for a quick look)
#   STRONGSWAN=1       0 skips the strongSwan kernel-libipsec runs
#   WIREGUARD=1        0 skips the wireguard-go runs
#   GSA_DP_ARGS=...    extra gsa-dp flags (e.g. --no-offload)
#   WORKERS=2          also measure GEO with `--workers N` (multi-queue tun, SO_REUSEPORT);
#                      WORKERS=1 skips it
#   GSA_DP_BIN=path    use this binary instead of building with cargo --release
#   CC=cubic           TCP congestion control for every TCP run (default: the system's, printed)
#
# Every TCP 1 stream run also prints what it cost the whole machine, in CPU-seconds per GB
# moved (user + system + irq + softirq of all CPUs, from /proc/stat), and the throughput that
# cost would allow with every CPU busy: the ceiling of this topology on this machine, since
# both iperf3 ends and both gsa-dp share the same CPUs.
set -euo pipefail
# shellcheck source=../../scripts/lib/common.sh
source "$(dirname "$0")/../../scripts/lib/common.sh"
cd "$NVESEC_ROOT"
require_root "gsa-dp/bench/netns-throughput.sh"
WIREGUARD=${WIREGUARD:-1}
if [ "$WIREGUARD" = 1 ]; then install_deps wireguard-go wireguard-tools; else install_deps; fi

DURATION=${DURATION:-10}
STRONGSWAN=${STRONGSWAN:-1}
WORKERS=${WORKERS:-2}
read -r -a EXTRA <<<"${GSA_DP_ARGS:-}"
if [ -n "${GSA_DP_BIN:-}" ]; then
    BIN=$GSA_DP_BIN
else
    log "building gsa-dp (release)"
    cargo build --release -q -p nvesec-gsa-dp --bin gsa-dp
    BIN=$CARGO_TARGET_DIR/release/gsa-dp
fi
[ -x "$BIN" ] || die "no gsa-dp binary at $BIN"

A=nvbA$$
B=nvbB$$
WORK=$(mktemp -d /tmp/nvesec-bench.XXXXXX)
PIDS=()

cleanup() {
    set +e
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    # Whatever else we started inside the namespaces (the iperf3 daemon), by pid.
    for ns in "$A" "$B"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
    done
    sleep 0.3
    for ns in "$A" "$B"; do
        [ -e "/run/netns/$ns" ] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$A"
ip netns add "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip link add vbA netns "$A" type veth peer name vbB netns "$B"
ip -n "$A" addr add 10.200.0.1/24 dev vbA
ip -n "$A" link set vbA up
ip -n "$B" addr add 10.200.0.2/24 dev vbB
ip -n "$B" link set vbB up

ip netns exec "$B" iperf3 -s -D -I "$WORK/iperf3.pid" >/dev/null
sleep 0.3

# iperf3 JSON -> one figure: Gbit/s received (TCP), or kpps received (UDP: sent minus lost).
figure() {
    python3 -c '
import json, sys
j = json.load(sys.stdin)
if "error" in j:
    sys.stderr.write("iperf3: %s\n" % j["error"]); print("0"); sys.exit()
e = j["end"]
if j["start"]["test_start"]["protocol"] == "TCP":
    print("%.2f" % (e["sum_received"]["bits_per_second"] / 1e9))
else:
    s = e["sum"]
    print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3))
'
}

CCARG=()
if [ -n "${CC:-}" ]; then
    CCARG=(-C "$CC")
    log "TCP congestion control: $CC (CC=)"
else
    log "TCP congestion control: $(ip netns exec "$A" sysctl -n net.ipv4.tcp_congestion_control) (the system's; CC= to choose)"
fi
NCPU=$(nproc)
TICKS=$(getconf CLK_TCK)
# Busy ticks of all CPUs: user, nice, system, irq, softirq (idle, iowait and steal left out).
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

declare -A R
run_iperf() { # dst args...
    local dst=$1
    shift
    ip netns exec "$A" timeout $((DURATION + 30)) iperf3 -c "$dst" -t "$DURATION" -J "$@" | figure
}
measure() { # name dst
    local name=$1 dst=$2 b0 b1
    b0=$(busy)
    R[$name,tcp1]=$(run_iperf "$dst" "${CCARG[@]}")
    b1=$(busy)
    R[$name,cpu]=$(python3 -c 'import sys; ticks, hz, g, d, n = map(float, sys.argv[1:])
t, gb = ticks / hz, g * d / 8
print("%.2f %.1f" % (t / gb, n * 8 / (t / gb)) if gb and t else "n/a n/a")' \
        "$((b1 - b0))" "$TICKS" "${R[$name,tcp1]}" "$DURATION" "$NCPU")
    R[$name,tcp4]=$(run_iperf "$dst" -P 4 "${CCARG[@]}")
    R[$name,udp64]=$(run_iperf "$dst" -u -l 64 -b 0)
    printf '%-9s TCP 1 stream %6s Gbit/s   TCP 4 streams %6s Gbit/s   UDP 64 B %6s kpps\n' \
        "$name" "${R[$name,tcp1]}" "${R[$name,tcp4]}" "${R[$name,udp64]}"
    read -r cps ceil <<<"${R[$name,cpu]}"
    printf '%-9s TCP 1 stream cost %s CPU-s/GB on the whole machine: at most %s Gbit/s with all %s CPUs busy\n' \
        "$name" "$cps" "$ceil" "$NCPU"
}

log "bare veth ($DURATION s per run)"
measure bare 10.200.0.2

K1=000102030405060708090a0b0c0d0e0f10111213
K2=202122232425262728292a2b2c2d2e2f30313233
pol() { # action-json
    printf '{"v":1,"seq":1,"op":"SET_GSP","policies":[{"id":1,"dir":"out","selectors":{"vni":"100"},"action":%s},{"id":2,"dir":"in","selectors":{"vni":"100"},"action":%s}]}\n' "$1" "$1"
}
gsa() { # seq dir gsa-id key
    printf '{"v":1,"seq":%s,"op":"ADD_GSA","gsa":{"dir":"%s","gsa_id":%s,"reqid":1,"alg":"aes-gcm128","key":"%s"}}\n' "$@"
}
ctl() { "$BIN" ctl --socket "$1" >>"$WORK/ctl.log" || die "keying request failed: $(cat "$WORK/ctl.log")"; }

# Start gsa-dp in both namespaces with extra flags "$@" (after stopping any running ones).
start_dp() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
    rm -f "$WORK/a.sock" "$WORK/b.sock"
    log "gsa-dp $*"
    # `ip netns exec` execs gsa-dp, so $! is the daemon itself.
    ip netns exec "$A" "$BIN" --foreground "$@" --socket "$WORK/a.sock" --tun nvb0:100 \
        --route 172.16.0.0/24,10.200.0.2,100 2>"$WORK/a.log" &
    PIDS+=($!)
    ip netns exec "$B" "$BIN" --foreground "$@" --socket "$WORK/b.sock" --tun nvb0:100 \
        --route 172.16.0.0/24,10.200.0.1,100 2>"$WORK/b.log" &
    PIDS+=($!)
    for s in a b; do
        for _ in $(seq 200); do [ -S "$WORK/$s.sock" ] && break; sleep 0.05; done
        [ -S "$WORK/$s.sock" ] || die "gsa-dp ($s) did not start: $(cat "$WORK/$s.log")"
    done
    ip -n "$A" addr add 172.16.0.1/24 dev nvb0
    ip -n "$B" addr add 172.16.0.2/24 dev nvb0
}

GEO='{"type":"secure","gsos":[{"reqid":1,"kind":"geo"}]}'
secure_geo() {
    { echo '{"v":1,"seq":0,"op":"FLUSH"}'; pol "$GEO"; gsa 2 out 4097 $K1; gsa 3 in 8194 $K2; } | ctl "$WORK/a.sock"
    { echo '{"v":1,"seq":0,"op":"FLUSH"}'; pol "$GEO"; gsa 2 out 8194 $K2; gsa 3 in 4097 $K1; } | ctl "$WORK/b.sock"
    ip netns exec "$A" ping -c 1 -W 2 172.16.0.2 >/dev/null || die "no ping through gsa-dp (GEO)"
}

start_dp "${EXTRA[@]}"
pol '{"type":"bypass"}' | ctl "$WORK/a.sock"
pol '{"type":"bypass"}' | ctl "$WORK/b.sock"
ip netns exec "$A" ping -c 1 -W 2 172.16.0.2 >/dev/null || die "no ping through gsa-dp (bypass)"
measure bypass 172.16.0.2

secure_geo
measure geo 172.16.0.2
for s in a b; do
    echo '{"v":1,"seq":9,"op":"STATS"}' | "$BIN" ctl --socket "$WORK/$s.sock" | cut -c1-400 | sed "s/^/geo STATS $s: /"
done

if [ "$WORKERS" -gt 1 ]; then
    start_dp "${EXTRA[@]}" --workers "$WORKERS"
    secure_geo
    measure "geo-w$WORKERS" 172.16.0.2
fi

# Stop what runs (gsa-dp or a foreign tunnel), then bring up a foreign tunnel from the script
# beside this one and measure it: the script defines the up function and the log line says what.
foreign() { # name script up-function dst label
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    PIDS=()
    # shellcheck source=/dev/null
    source "$NVESEC_ROOT/gsa-dp/bench/$2"
    log "$5"
    "$3"
    measure "$1" "$4"
}
if [ "$STRONGSWAN" = 1 ]; then
    foreign libipsec libipsec.sh libipsec_up 172.16.1.2 "strongSwan kernel-libipsec"
fi
if [ "$WIREGUARD" = 1 ]; then
    foreign wireguard wireguard.sh wireguard_up 172.16.2.2 \
        "wireguard-go $(wireguard-go --version | awk 'NR == 1 {print $2}') (Debian)"
fi

ratio() { # name a b target
    python3 -c '
import sys
name, a, b, target = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = ("%.2f" % (a / b)) if b else "n/a"
print("ratio %-30s = %5s%s" % (name, r, ("   (target >= %s)" % target) if target else ""))
' "$@"
}
for t in tcp1 tcp4 udp64; do
    ratio "$t GEO/BYPASS" "${R[geo,$t]}" "${R[bypass,$t]}" "$([ "$t" = udp64 ] || echo 0.70)"
    ratio "$t BYPASS/bare" "${R[bypass,$t]}" "${R[bare,$t]}" ""
    if [ -n "${R[geo-w$WORKERS,$t]:-}" ]; then
        ratio "$t GEO workers $WORKERS/1" "${R[geo-w$WORKERS,$t]}" "${R[geo,$t]}" ""
    fi
    if [ -n "${R[libipsec,$t]:-}" ]; then
        case $t in tcp1) target=14 ;; udp64) target=4 ;; *) target= ;; esac
        name="$t GEO/libipsec"
        [ "$t" = udp64 ] && name="udp64 GEO pps/libipsec pps"
        ratio "$name" "${R[geo,$t]}" "${R[libipsec,$t]}" "$target"
    fi
    if [ -n "${R[wireguard,$t]:-}" ]; then
        # No target printed: the issue's 2.5x is against current wireguard-go, with offloads.
        ratio "$t GEO/Debian wireguard-go" "${R[geo,$t]}" "${R[wireguard,$t]}" ""
    fi
done
