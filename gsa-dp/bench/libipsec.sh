# Sourced by netns-throughput.sh: a strongSwan tunnel (charon-systemd with kernel-libipsec, i.e.
# userspace ESP over charon's ipsec0 tun, AES-128-GCM) between the bench's two namespaces,
# 172.16.1.1 (ns A) <-> 172.16.1.2 (ns B) over the veth underlay 10.200.0.1 <-> 10.200.0.2.
# How charon runs in a namespace here: /work/shared/reference/strongswan-in-netns.md and
# interop/src/strongswan.rs. Expects $WORK, $A, $B, the PIDS array and log() from the caller.
# shellcheck shell=bash

libipsec_conf() { # dir local remote inner_local inner_remote
    local d=$1
    mkdir -p "$d/x509" "$d/x509ca" "$d/private" "$d/conf.d"
    cat >"$d/strongswan.conf" <<EOC
charon-systemd {
  load = random nonce openssl aes gcm sha1 sha2 hmac kdf curve25519 pubkey kernel-libipsec kernel-netlink socket-default vici
  plugins { vici { socket = unix://$d/charon.vici } }
  journal { default = -1 }
  filelog { main { path = $d/charon.log
    default = 1 } }
}
swanctl { load = random nonce openssl pem curve25519 }
EOC
    cat >"$d/swanctl.conf" <<EOC
connections { bench { local_addrs = $2
  remote_addrs = $3
  proposals = aes128gcm16-prfsha256-x25519
  local { auth = psk
    id = $2 }
  remote { auth = psk
    id = $3 }
  children { bench { local_ts = $4/32
    remote_ts = $5/32
    esp_proposals = aes128gcm16
    mode = tunnel } } } }
secrets { ike-bench { secret = "nvesec-bench-psk-0123456789" } }
EOC
}

# swanctl against the charon of namespace $1 whose state is in $2.
libipsec_swanctl() { # ns dir args...
    local ns=$1 d=$2
    shift 2
    ip netns exec "$ns" env STRONGSWAN_CONF="$d/strongswan.conf" swanctl "$@" \
        --uri "unix://$d/charon.vici" >>"$d/swanctl.log" 2>&1
}

libipsec_up() {
    local s ns
    libipsec_conf "$WORK/swA" 10.200.0.1 10.200.0.2 172.16.1.1 172.16.1.2
    libipsec_conf "$WORK/swB" 10.200.0.2 10.200.0.1 172.16.1.2 172.16.1.1
    ip netns exec "$A" ip addr add 172.16.1.1/32 dev lo
    ip netns exec "$B" ip addr add 172.16.1.2/32 dev lo
    # `ip netns exec` execs charon, so $! is charon itself.
    ip netns exec "$A" env STRONGSWAN_CONF="$WORK/swA/strongswan.conf" /usr/sbin/charon-systemd \
        >"$WORK/swA/stdout.log" 2>&1 &
    PIDS+=($!)
    ip netns exec "$B" env STRONGSWAN_CONF="$WORK/swB/strongswan.conf" /usr/sbin/charon-systemd \
        >"$WORK/swB/stdout.log" 2>&1 &
    PIDS+=($!)
    for s in swA swB; do
        for _ in $(seq 200); do [ -S "$WORK/$s/charon.vici" ] && break; sleep 0.05; done
        [ -S "$WORK/$s/charon.vici" ] || die "charon ($s) did not open its VICI socket: $WORK/$s/charon.log"
    done
    for ns in A B; do
        s=sw$ns
        libipsec_swanctl "${!ns}" "$WORK/$s" --load-all --file "$WORK/$s/swanctl.conf" \
            || die "swanctl --load-all ($s) failed: $WORK/$s/swanctl.log"
    done
    libipsec_swanctl "$A" "$WORK/swA" --initiate --child bench \
        || die "swanctl --initiate failed: $(cat "$WORK/swA/swanctl.log")"
    ip netns exec "$A" ping -c 1 -W 2 -I 172.16.1.1 172.16.1.2 >/dev/null \
        || die "no ping through the libipsec tunnel"
}
