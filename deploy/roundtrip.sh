#!/usr/bin/env bash
# Proves an encrypted round trip with aws-cli against a running s3seal. It
# uploads a file through s3seal, reads it back through s3seal and compares.
# Then it reads the stored object straight from the backend and checks that
# it is ciphertext of the documented size with an s3seal envelope whose key
# (s3seal-kms, docs/FORMAT.md) belongs to the expected key provider. It
# removes its object and bucket at the end.
#
# Used after "docker compose up" (deploy/docker-compose.yml, where Vault
# wraps the data keys) and by deploy/check.sh against the container image
# (with a key file, EXPECT_KMS=file). Settings, from the environment:
#   PROXY_URL       s3seal's address          (default http://127.0.0.1:8080)
#   BACKEND_URL     the backend's address     (default http://127.0.0.1:9000)
#   S3SEAL_CLIENT_ACCESS_KEY_ID, S3SEAL_CLIENT_SECRET_ACCESS_KEY
#                   what clients sign with for s3seal
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD
#                   the backend credentials, to read the stored object
#   AWS_REGION      region of both            (default us-east-1)
#   BUCKET          bucket to create and remove (default: a unique name)
#   AWS             the aws-cli to run        (default: aws on PATH)
#   EXPECT_KMS      the key provider the envelope must name: vault (the
#                   default, as in the Compose file), file, p11, awskms or
#                   kmip
# Exits 0 when every check passed, 1 at the first failure.
set -euo pipefail

PROXY_URL=${PROXY_URL:-http://127.0.0.1:8080}
BACKEND_URL=${BACKEND_URL:-http://127.0.0.1:9000}
REGION=${AWS_REGION:-us-east-1}
BUCKET=${BUCKET:-s3seal-roundtrip-$(date +%s)-$$}
AWS=${AWS:-aws}
EXPECT_KMS=${EXPECT_KMS:-vault}
: "${S3SEAL_CLIENT_ACCESS_KEY_ID:?set S3SEAL_CLIENT_ACCESS_KEY_ID (see deploy/compose.env.example)}"
: "${S3SEAL_CLIENT_SECRET_ACCESS_KEY:?set S3SEAL_CLIENT_SECRET_ACCESS_KEY}"
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER to the backend access key id}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD to the backend secret access key}"

work=$(mktemp -d /tmp/s3seal-roundtrip.XXXXXX)
bucket_made=0

# A profile file of our own: path-style addressing, and no settings or
# credentials of the machine's own aws-cli configuration.
printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' "$REGION" >"$work/aws.config"
export AWS_CONFIG_FILE=$work/aws.config AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_DEFAULT_REGION=$REGION
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CA_BUNDLE

proxy() {
    AWS_ACCESS_KEY_ID=$S3SEAL_CLIENT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3SEAL_CLIENT_SECRET_ACCESS_KEY \
        "$AWS" --endpoint-url "$PROXY_URL" "$@"
}
backend() {
    AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
        "$AWS" --endpoint-url "$BACKEND_URL" "$@"
}
cleanup() {
    if ((bucket_made)); then
        proxy s3 rm "s3://$BUCKET/hello.txt" >/dev/null 2>&1 || true
        proxy s3api delete-bucket --bucket "$BUCKET" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    printf 'roundtrip: FAILED: %s\n' "$*" >&2
    exit 1
}
ok() {
    printf 'roundtrip: ok: %s\n' "$*"
}

printf 'This line is the secret.\n' >"$work/hello.txt"
plain_size=$(stat -c %s "$work/hello.txt")

proxy s3api create-bucket --bucket "$BUCKET" >/dev/null || fail "create-bucket $BUCKET through $PROXY_URL"
bucket_made=1
proxy s3 cp "$work/hello.txt" "s3://$BUCKET/hello.txt" >/dev/null || fail "upload through $PROXY_URL"
ok "uploaded $plain_size bytes through s3seal at $PROXY_URL"

proxy s3 cp "s3://$BUCKET/hello.txt" "$work/back.txt" >/dev/null || fail "download through $PROXY_URL"
cmp -s "$work/hello.txt" "$work/back.txt" || fail "the object read through s3seal differs from the upload"
ok "read back through s3seal: identical"

backend s3 cp "s3://$BUCKET/hello.txt" "$work/stored.bin" >/dev/null || fail "read straight from $BACKEND_URL"
stored_size=$(stat -c %s "$work/stored.bin")
# One chunk: the plaintext plus a 20-byte chunk header and a 16-byte tag (docs/FORMAT.md).
if ((stored_size != plain_size + 36)); then
    fail "the backend holds $stored_size bytes; expected $((plain_size + 36)) for one encrypted chunk"
fi
if grep -q secret "$work/stored.bin"; then
    fail "the plaintext is visible in the object stored on the backend"
fi
ok "the backend holds $stored_size bytes of ciphertext; the word 'secret' is not in them"

backend s3api head-object --bucket "$BUCKET" --key hello.txt --query Metadata >"$work/meta.json" ||
    fail "head-object straight from $BACKEND_URL"
# The envelope names, in the stored object's user metadata (docs/FORMAT.md,
# section Envelope): s3seal-kms "<provider>:<key id>", where the provider may
# carry "+h" (S3SEAL_KMS_CONTEXT=sha256), and s3seal-dek, the base64 of the
# wrapped data key.
meta() {
    backend s3api head-object --bucket "$BUCKET" --key hello.txt --query "Metadata.\"$1\"" --output text
}
kms=$(meta s3seal-kms) || fail "head-object straight from $BACKEND_URL"
dek=$(meta s3seal-dek) || fail "head-object straight from $BACKEND_URL"
if [[ -z $dek || $dek == None ]]; then
    fail "the stored object has no s3seal-dek envelope: $(cat "$work/meta.json")"
fi
ok "the stored object carries the wrapped data key (s3seal-dek)"
if [[ $kms != "$EXPECT_KMS":* && $kms != "$EXPECT_KMS+h":* ]]; then
    fail "s3seal-kms is '$kms'; expected the key provider '$EXPECT_KMS' (<provider>:<key id>)"
fi
ok "s3seal-kms is '$kms': the data key is wrapped by the $EXPECT_KMS key provider"
if [[ $EXPECT_KMS == vault ]]; then
    # The vault provider stores the transit ciphertext "vault:v<N>:..." as
    # the wrapped key (docs/KEYS.md, section Wrapped DEK format).
    wrapped=$(printf '%s' "$dek" | base64 -d 2>/dev/null | head -c 16 | tr -c 'A-Za-z0-9:+/=' '?') || true
    if [[ ! $wrapped =~ ^vault:v[0-9]+: ]]; then
        fail "s3seal-dek does not decode to a Vault transit ciphertext (vault:v<N>:...); it starts with '$wrapped'"
    fi
    ok "s3seal-dek is a Vault transit ciphertext (${wrapped%:*}:...)"
fi
printf 'roundtrip: all checks passed\n'
