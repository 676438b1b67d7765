# Shared by scripts/*.sh: dependency installation and build helpers.
# shellcheck shell=bash

NVESEC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export NVESEC_ROOT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$NVESEC_ROOT/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Debian packages the demo and the test suite need (strongSwan as the foreign
# IKEv2 peer, its pki tool for cross-checks, namespaces, traffic and capture).
NVESEC_APT_PACKAGES=(
    strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
    strongswan-pki iproute2 iputils-ping iperf3 tshark openssl procps python3 nftables
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "$1 needs root (network namespaces, tun devices); run it as root"
}

# Install the missing Debian packages (the common list plus any named as arguments), once;
# quiet unless something is missing.
install_deps() {
    local missing=()
    for p in "${NVESEC_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
    command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) first"
}
