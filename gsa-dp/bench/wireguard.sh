# Sourced by netns-throughput.sh: a userspace WireGuard tunnel (Debian's wireguard-go over its
# own tun, configured with `wg`) between the bench's two namespaces, 172.16.2.1 (ns A, wgA) <->
# 172.16.2.2 (ns B, wgB) over the veth underlay 10.200.0.1 <-> 10.200.0.2, UDP port 51820.
# Debian bookworm ships wireguard-go 0.0.20220316, which predates wireguard-go's TSO/GRO tun
# offloads (2023): it is the userspace WireGuard an operator gets from apt, not the current
# source the issue's 2.5x target was measured against.
# Expects $WORK, $A, $B, the PIDS array and log()/die() from the caller.
# shellcheck shell=bash

wireguard_up() {
    local ns peer key
    for ns in A B; do
        (umask 077 && wg genkey >"$WORK/wg$ns.key")
        wg pubkey <"$WORK/wg$ns.key" >"$WORK/wg$ns.pub"
    done
    for ns in A B; do
        # `ip netns exec` execs wireguard-go, so $! is the daemon itself (foreground: -f).
        ip netns exec "${!ns}" wireguard-go -f "wg$ns" >"$WORK/wg$ns.log" 2>&1 &
        PIDS+=($!)
    done
    for ns in A B; do
        for _ in $(seq 100); do ip -n "${!ns}" link show "wg$ns" >/dev/null 2>&1 && break; sleep 0.05; done
        ip -n "${!ns}" link show "wg$ns" >/dev/null 2>&1 \
            || die "wireguard-go (wg$ns) did not start: $(cat "$WORK/wg$ns.log")"
    done
    for ns in A B; do
        if [ "$ns" = A ]; then peer=B; key=1; else peer=A; key=2; fi
        ip netns exec "${!ns}" wg set "wg$ns" private-key "$WORK/wg$ns.key" listen-port 51820 \
            peer "$(cat "$WORK/wg$peer.pub")" endpoint "10.200.0.$((3 - key)):51820" \
            allowed-ips "172.16.2.$((3 - key))/32" || die "wg set wg$ns failed"
        ip -n "${!ns}" addr add "172.16.2.$key/24" dev "wg$ns"
        ip -n "${!ns}" link set "wg$ns" up
    done
    ip netns exec "$A" ping -c 1 -W 2 172.16.2.2 >/dev/null || die "no ping through wireguard-go"
}
