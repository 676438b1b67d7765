#!/bin/sh
# Regenerates the RSA chain fixtures of tests/verify_limits.rs (RFC 8247 algorithm policy):
# an Ed25519 root, RSA intermediates of 1024, 2048 and 8192 bits, and Ed25519 end entities
# they sign with sha256WithRSA or sha1WithRSA. Keys are thrown away; valid for 100 years.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
cat >"$t/ca.ext" <<X
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
X
cat >"$t/ee.ext" <<X
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectAltName=DNS:nve1.example
X
openssl genpkey -algorithm ed25519 -out "$t/root.key"
openssl req -x509 -new -key "$t/root.key" -subj "/O=test/CN=Fixture Root" -days 36500 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out root.pem
for bits in 1024 2048 8192; do
    openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:$bits -out "$t/int$bits.key"
    openssl req -new -key "$t/int$bits.key" -subj "/O=test/CN=RSA $bits" -out "$t/int$bits.csr"
    openssl x509 -req -in "$t/int$bits.csr" -CA root.pem -CAkey "$t/root.key" -days 36500 \
        -set_serial $bits -extfile "$t/ca.ext" -out "int$bits.pem"
done
openssl genpkey -algorithm ed25519 -out "$t/ee.key"
openssl req -new -key "$t/ee.key" -subj "/O=test/CN=nve1" -out "$t/ee.csr"
ee() { # name issuer digest
    openssl x509 -req -in "$t/ee.csr" -CA "int$2.pem" -CAkey "$t/int$2.key" -days 36500 \
        -set_serial 7$2 -"$3" -extfile "$t/ee.ext" -out "$1.pem"
}
ee ee-rsa2048-sha256 2048 sha256
ee ee-rsa2048-sha1 2048 sha1
ee ee-rsa1024-sha1 1024 sha1
ee ee-rsa8192-sha256 8192 sha256
