#!/bin/sh
# One-shot set-up of the Vault server of deploy/docker-compose.yml for
# s3seal. The vault-init service runs it in the hashicorp/vault image, which
# has the vault CLI and busybox but no jq or curl, on every "docker compose
# up". s3seal starts only after it exited 0. Each step checks first, so a
# second run changes nothing that is already in place:
#
#   1. waits until Vault answers on VAULT_ADDR (TLS checked against
#      VAULT_CACERT);
#   2. first run only: "vault operator init" with one key share and
#      threshold 1, and keeps the output (unseal key and root token) in
#      INIT_DIR, a volume that no other service mounts;
#   3. unseals Vault when it is sealed, as after every restart of Vault;
#   4. enables the transit engine at TRANSIT_MOUNT and creates the transit
#      key TRANSIT_KEY (aes256-gcm96) unless they exist;
#   5. writes the policy "s3seal": update on the transit paths that s3seal
#      calls for that key (kms/kms_vault.c: encrypt, decrypt and
#      datakey/plaintext) and read on the key itself (its start-up check of
#      the key type), nothing else;
#   6. enables AppRole unless enabled, writes the role "s3seal" with only
#      that policy and the fixed role ID S3SEAL_VAULT_ROLE_ID;
#   7. writes a secret ID for the role to APPROLE_DIR/secret-id, owned by
#      uid 10001 (the s3seal user of deploy/Dockerfile) with mode 0400,
#      unless the one there is still valid (checked with a copy kept in
#      INIT_DIR).
#
# DEMO SHORTCUT: the unseal key and the root token stay in the vault-init
# volume so that this job can unseal and configure Vault unattended. With
# them, anyone who can read that volume can unseal Vault and read or change
# anything in it. In production keep the unseal keys offline, split among
# several people (-key-shares and -key-threshold above 1), or use
# auto-unseal (a "seal" stanza with a cloud KMS or an HSM), and revoke the
# root token once the set-up is done ("vault token revoke"), making a new
# one with "vault operator generate-root" only when needed.
#
# Settings, from the environment:
#   VAULT_ADDR            (https://vault:8200)
#   VAULT_CACERT          CA of Vault's certificate (/vault/tls/ca.pem)
#   S3SEAL_VAULT_ROLE_ID  role ID to give the AppRole role "s3seal"; required
#   TRANSIT_MOUNT         (transit)    TRANSIT_KEY (s3seal)
#   INIT_DIR              (/vault-init)   APPROLE_DIR (/s3seal-vault)
#   VAULT_WAIT_S          seconds to wait for Vault (60)
# Exits 0 when everything is in place, 1 otherwise.
set -eu

VAULT_ADDR=${VAULT_ADDR:-https://vault:8200}
VAULT_CACERT=${VAULT_CACERT:-/vault/tls/ca.pem}
export VAULT_ADDR VAULT_CACERT
# The root token is exported below, once Vault is unsealed.
unset VAULT_TOKEN
ROLE_ID=${S3SEAL_VAULT_ROLE_ID:-}
MOUNT=${TRANSIT_MOUNT:-transit}
KEY_NAME=${TRANSIT_KEY:-s3seal}
INIT_DIR=${INIT_DIR:-/vault-init}
APPROLE_DIR=${APPROLE_DIR:-/s3seal-vault}
WAIT_S=${VAULT_WAIT_S:-60}
ROLE=s3seal
POLICY=s3seal
# The s3seal user and group of deploy/Dockerfile.
S3SEAL_UID=10001

log() {
    printf 'vault-init: %s\n' "$*"
}
fail() {
    printf 'vault-init: ERROR: %s\n' "$*" >&2
    exit 1
}

case $ROLE_ID in
'' | *[!A-Za-z0-9._-]*)
    fail "S3SEAL_VAULT_ROLE_ID must be set to letters, digits, '.', '_' and '-' (see deploy/compose.env.example)"
    ;;
esac
[ -d "$INIT_DIR" ] || fail "$INIT_DIR is not mounted"
[ -d "$APPROLE_DIR" ] || fail "$APPROLE_DIR is not mounted"
[ -r "$VAULT_CACERT" ] || fail "cannot read $VAULT_CACERT; run deploy/compose-certs.sh before docker compose up"
# Every file this script writes is readable by its owner only.
umask 077

# 1. "vault status" exits 0 when unsealed, 2 when sealed (also before the
# first init) and 1 when Vault did not respond.
waited=0
while :; do
    rc=0
    vault status >/dev/null 2>&1 || rc=$?
    if [ "$rc" -ne 1 ]; then
        break
    fi
    if [ "$waited" -ge "$WAIT_S" ]; then
        fail "no answer from Vault at $VAULT_ADDR within $WAIT_S s: $(vault status 2>&1 | head -n 3)"
    fi
    sleep 1
    waited=$((waited + 1))
done
log "Vault answers at $VAULT_ADDR"

# 2. "vault operator init -status" exits 0 when initialized, 2 when not.
rc=0
vault operator init -status >/dev/null 2>&1 || rc=$?
case $rc in
0)
    log "Vault is initialized"
    ;;
2)
    # A record of an earlier init means that Vault's storage was removed
    # while this volume was kept. The old unseal key may still be needed
    # for a backup of that storage, so it is not overwritten.
    if [ -e "$INIT_DIR/init.json" ]; then
        fail "Vault is not initialized, but $INIT_DIR/init.json holds the unseal key of an earlier Vault; if its storage is gone for good, remove the vault-init volume and run again"
    fi
    vault operator init -key-shares=1 -key-threshold=1 -format=json >"$INIT_DIR/init.json.new"
    mv "$INIT_DIR/init.json.new" "$INIT_DIR/init.json"
    # The JSON output, with or without line breaks: "unseal_keys_b64": ["..."]
    # and "root_token": "...". Base64 and tokens contain no '"'.
    flat=$(tr '\n' ' ' <"$INIT_DIR/init.json")
    printf '%s' "$flat" | sed -n 's/.*"unseal_keys_b64":[[:space:]]*\[[[:space:]]*"\([^"]*\)".*/\1/p' |
        tr -d '\n' >"$INIT_DIR/unseal-key"
    printf '%s' "$flat" | sed -n 's/.*"root_token":[[:space:]]*"\([^"]*\)".*/\1/p' |
        tr -d '\n' >"$INIT_DIR/root-token"
    flat=""
    if [ ! -s "$INIT_DIR/unseal-key" ] || [ ! -s "$INIT_DIR/root-token" ]; then
        fail "could not find the unseal key and the root token in $INIT_DIR/init.json"
    fi
    log "initialized Vault with 1 key share; the unseal key and the root token are in the vault-init volume (a demo shortcut: see the header of this script)"
    ;;
*)
    fail "vault operator init -status failed: $(vault operator init -status 2>&1 | head -n 3)"
    ;;
esac

# 3. The key goes on stdin ("key=-"), so it never shows in the process list.
rc=0
vault status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 2 ]; then
    [ -s "$INIT_DIR/unseal-key" ] || fail "Vault is sealed and $INIT_DIR/unseal-key is missing"
    vault write sys/unseal key=- <"$INIT_DIR/unseal-key" >/dev/null
    vault status >/dev/null 2>&1 || fail "Vault is still sealed after the unseal key was given"
    log "unsealed Vault"
elif [ "$rc" -ne 0 ]; then
    fail "vault status failed: $(vault status 2>&1 | head -n 3)"
else
    log "Vault is unsealed"
fi

[ -s "$INIT_DIR/root-token" ] || fail "$INIT_DIR/root-token is missing"
VAULT_TOKEN=$(cat "$INIT_DIR/root-token")
export VAULT_TOKEN

# 4. The transit engine and the key.
mounts=$(vault secrets list -format=json)
if printf '%s' "$mounts" | grep -q "\"$MOUNT/\""; then
    log "the secrets engine at $MOUNT/ exists"
else
    vault secrets enable -path="$MOUNT" transit >/dev/null
    log "enabled the transit secrets engine at $MOUNT/"
fi
# "vault read" exits 2 when there is no key of that name.
if key_type=$(vault read -field=type "$MOUNT/keys/$KEY_NAME" 2>/dev/null); then
    [ "$key_type" = aes256-gcm96 ] ||
        fail "the transit key $MOUNT/keys/$KEY_NAME exists with type $key_type; s3seal's Compose set-up expects aes256-gcm96"
    log "the transit key $MOUNT/keys/$KEY_NAME exists (aes256-gcm96)"
else
    vault write "$MOUNT/keys/$KEY_NAME" type=aes256-gcm96 >/dev/null
    log "created the transit key $MOUNT/keys/$KEY_NAME (aes256-gcm96)"
fi

# 5. Written on every run, so the policy always matches this file.
vault policy write "$POLICY" - >/dev/null <<POLICY
# s3seal's calls (kms/kms_vault.c): wrap, unwrap and new data keys ...
path "$MOUNT/encrypt/$KEY_NAME" {
  capabilities = ["update"]
}
path "$MOUNT/decrypt/$KEY_NAME" {
  capabilities = ["update"]
}
path "$MOUNT/datakey/plaintext/$KEY_NAME" {
  capabilities = ["update"]
}
# ... and the start-up check of the key's type.
path "$MOUNT/keys/$KEY_NAME" {
  capabilities = ["read"]
}
POLICY
log "wrote the policy $POLICY (transit encrypt, decrypt, datakey/plaintext and read of $MOUNT/keys/$KEY_NAME)"

# 6. AppRole. Tokens get only the s3seal policy, not "default" as well, and
# live one hour; s3seal logs in again before that (kms/kms_vault.c). The
# secret ID does not expire and has no use limit, because s3seal logs in
# with it again at every token expiry and every restart.
auths=$(vault auth list -format=json)
if printf '%s' "$auths" | grep -q '"approle/"'; then
    log "the AppRole auth method is enabled"
else
    vault auth enable approle >/dev/null
    log "enabled the AppRole auth method"
fi
vault write "auth/approle/role/$ROLE" token_policies="$POLICY" token_no_default_policy=true \
    token_ttl=1h token_max_ttl=1h secret_id_ttl=0 secret_id_num_uses=0 >/dev/null
vault write "auth/approle/role/$ROLE/role-id" role_id="$ROLE_ID" >/dev/null
log "wrote the AppRole role $ROLE with the policy $POLICY and the role ID of S3SEAL_VAULT_ROLE_ID"

# 7. The secret ID. s3seal's copy in APPROLE_DIR belongs to uid 10001
# with mode 0400, which this job cannot read without more capabilities. So
# it keeps its own copy in INIT_DIR and looks that one up in Vault, which
# returns a secret_id_accessor only while the ID is valid.
target=$APPROLE_DIR/secret-id
copy=$INIT_DIR/secret-id
if [ -s "$target" ] && [ -s "$copy" ] &&
    lookup=$(vault write -format=json "auth/approle/role/$ROLE/secret-id/lookup" secret_id=- <"$copy" 2>/dev/null) &&
    printf '%s' "$lookup" | grep -q '"secret_id_accessor"'; then
    log "keeping the secret ID in $target"
else
    vault write -force -field=secret_id "auth/approle/role/$ROLE/secret-id" >"$copy.new"
    [ -s "$copy.new" ] || fail "vault returned no secret_id"
    tmp=$(mktemp "$APPROLE_DIR/.secret-id.XXXXXX")
    cp "$copy.new" "$tmp"
    chmod 0400 "$tmp"
    chown "$S3SEAL_UID:$S3SEAL_UID" "$tmp"
    mv -f "$tmp" "$target"
    mv -f "$copy.new" "$copy"
    log "wrote a new secret ID to $target (uid $S3SEAL_UID, mode 0400)"
fi
log "done: s3seal can log in with AppRole and use $MOUNT/keys/$KEY_NAME"
