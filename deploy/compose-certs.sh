#!/usr/bin/env bash
# Makes the TLS files of the Vault server in deploy/docker-compose.yml with
# the openssl command line: a private CA and a server certificate for Vault
# signed by it. s3seal rejects plain http to a Vault that is not on
# loopback, so Vault serves TLS, and s3seal and the init job check it
# against this CA.
#
#   bash deploy/compose-certs.sh [DIR]      (default DIR: deploy/compose-certs)
#
# Files, in DIR (which .gitignore keeps out of git):
#   ca.pem     the CA certificate; mounted read-only into s3seal, vault-init
#              and vault                                           mode 0644
#   ca.key     the CA's private key; never mounted into a container. Keep
#              it to issue the next server certificate, or move it offline
#                                                                  mode 0600
#   vault.pem  Vault's certificate, subjectAltName DNS:vault (the Compose
#              service name), DNS:localhost and IP:127.0.0.1       mode 0644
#   vault.key  Vault's private key                                 mode 0400
#
# It never overwrites a file: files that exist are kept, and only missing
# ones are made. To renew Vault's certificate, delete vault.pem and
# vault.key and run the script again (it then needs ca.key). ca.key without
# ca.pem, or one of vault.pem and vault.key without the other, is an error.
#
# vault.key must be readable by the user Vault runs as in its container,
# uid 100 and gid 1000 (VAULT_UID and VAULT_GID change them). The Compose
# file sets that user explicitly ("user: 100:1000"). Where the numbers come
# from: the image's Dockerfile (github.com/hashicorp/vault, Dockerfile)
# creates the user with "adduser -S -G vault vault" on Alpine, which takes
# the first free system uid, 100, and a group "vault" with gid 1000, and
# HashiCorp's Helm chart for that image (hashicorp/vault-helm) runs it with
# runAsUser 100 and runAsGroup 1000. The Vault documentation itself does not
# state the numbers, so the Compose file does not rely on the image's
# default user but names 100:1000 itself.
#
# Run as root, the script gives vault.key to VAULT_UID:VAULT_GID with mode
# 0400. Run as another user it cannot change the owner: vault.key then stays
# 0600 and owned by that user, and the script prints the chown command to
# run (with sudo for Docker, with "podman unshare" for rootless Podman).
# It never makes the key readable by group or others.
#
# Settings, from the environment: VAULT_UID (100), VAULT_GID (1000),
# CA_DAYS (3650), CERT_DAYS (825), OPENSSL (openssl).
# Exits 0 when every file exists at the end, 1 on any error.
set -euo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${1:-$DEPLOY/compose-certs}
VAULT_UID=${VAULT_UID:-100}
VAULT_GID=${VAULT_GID:-1000}
CA_DAYS=${CA_DAYS:-3650}
CERT_DAYS=${CERT_DAYS:-825}
OPENSSL=${OPENSSL:-openssl}

fail() {
    printf 'compose-certs: %s\n' "$*" >&2
    exit 1
}
note() {
    printf 'compose-certs: %s\n' "$*"
}

# Exits unless both files of a pair exist or neither does; returns 0 when both exist.
pair_exists() {
    local a=$1 b=$2
    if [[ -e $a && -e $b ]]; then
        return 0
    fi
    if [[ -e $a || -e $b ]]; then
        fail "$a and $b go together, but only one of them exists; restore the other or remove both"
    fi
    return 1
}

[[ $VAULT_UID =~ ^[0-9]+$ && $VAULT_GID =~ ^[0-9]+$ ]] || fail "VAULT_UID and VAULT_GID must be numbers"
command -v "$OPENSSL" >/dev/null || fail "$OPENSSL not found; install the Debian package openssl"
mkdir -p "$DIR"
# Every file is created with no access for group and others; the
# certificates are opened up below.
umask 077
work=$(mktemp -d "$DIR/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -e $DIR/ca.pem ]]; then
    # ca.key may have been moved offline; it is only needed for a new certificate.
    note "keeping the CA in $DIR/ca.pem"
elif [[ -e $DIR/ca.key ]]; then
    fail "$DIR/ca.key exists without $DIR/ca.pem; restore ca.pem or remove ca.key"
else
    "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>"$work/log" ||
        fail "openssl genpkey (CA key) failed: $(cat "$work/log")"
    "$OPENSSL" req -x509 -new -key "$work/ca.key" -sha256 -days "$CA_DAYS" \
        -subj "/CN=s3seal compose demo CA" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$work/ca.pem" 2>"$work/log" || fail "openssl req -x509 (CA certificate) failed: $(cat "$work/log")"
    chmod 0600 "$work/ca.key"
    chmod 0644 "$work/ca.pem"
    # mv -n: a file that appeared in the meantime is not replaced.
    mv -n "$work/ca.key" "$DIR/ca.key"
    mv -n "$work/ca.pem" "$DIR/ca.pem"
    note "made the CA: $DIR/ca.pem (key $DIR/ca.key, mode 0600)"
fi

if pair_exists "$DIR/vault.pem" "$DIR/vault.key"; then
    note "keeping Vault's certificate $DIR/vault.pem"
else
    [[ -r $DIR/ca.key ]] || fail "$DIR/ca.key is needed to sign a new certificate for Vault"
    cat >"$work/vault.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:vault, DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
    "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/vault.key" 2>"$work/log" ||
        fail "openssl genpkey (Vault key) failed: $(cat "$work/log")"
    "$OPENSSL" req -new -key "$work/vault.key" -subj "/CN=vault" -out "$work/vault.csr" 2>"$work/log" ||
        fail "openssl req (Vault request) failed: $(cat "$work/log")"
    "$OPENSSL" x509 -req -in "$work/vault.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
        -set_serial "0x$("$OPENSSL" rand -hex 16)" -sha256 -days "$CERT_DAYS" \
        -extfile "$work/vault.ext" -out "$work/vault.pem" 2>"$work/log" ||
        fail "openssl x509 -req (signing Vault's certificate) failed: $(cat "$work/log")"
    chmod 0644 "$work/vault.pem"
    if ((EUID == 0)); then
        chown "$VAULT_UID:$VAULT_GID" "$work/vault.key"
        chmod 0400 "$work/vault.key"
    else
        chmod 0600 "$work/vault.key"
    fi
    mv -n "$work/vault.key" "$DIR/vault.key"
    mv -n "$work/vault.pem" "$DIR/vault.pem"
    note "made Vault's certificate: $DIR/vault.pem (key $DIR/vault.key)"
    if ((EUID != 0)); then
        printf 'compose-certs: NOTE: %s belongs to you (mode 0600), so Vault (uid %s) cannot read it yet.\n' \
            "$DIR/vault.key" "$VAULT_UID" >&2
        printf 'compose-certs: with Docker run:          sudo chown %s:%s %s && sudo chmod 0400 %s\n' \
            "$VAULT_UID" "$VAULT_GID" "$DIR/vault.key" "$DIR/vault.key" >&2
        printf 'compose-certs: with rootless Podman run: podman unshare chown %s:%s %s\n' \
            "$VAULT_UID" "$VAULT_GID" "$DIR/vault.key" >&2
    fi
fi
