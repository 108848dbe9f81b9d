#!/usr/bin/env bash
# Shows s3seal at work on one machine: starts Ceph RGW on 127.0.0.1, starts
# s3seal in front of it, uploads a file through s3seal with aws-cli,
# downloads it again, and then reads the stored object straight from RGW to
# show that the backend holds ciphertext and the wrapped data key only.
# Everything it starts is stopped when it ends.
#
# Needs: a built build/s3seal (see README.md), and the Debian packages
# ceph-mon ceph-osd radosgw ceph-common awscli.
# S3SEAL_BIN overrides the binary; DEMO_DIR the work folder.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3SEAL_BIN=${S3SEAL_BIN:-$REPO_ROOT/build/s3seal}
DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/s3seal-demo.XXXXXX)}
PROXY_PORT=${DEMO_PROXY_PORT:-18480}
AWS=/usr/bin/aws

export RGW_DIR=$DEMO_DIR/rgw RGW_PORT=${DEMO_RGW_PORT:-19400} MON_PORT=${DEMO_MON_PORT:-19410}
export OSD_PORT_MIN=${DEMO_OSD_PORT_MIN:-19420} OSD_PORT_MAX=${DEMO_OSD_PORT_MAX:-19439}

s3seal_pid=""
rgw_started=0

cleanup() {
    if [[ -n $s3seal_pid ]]; then
        kill "$s3seal_pid" 2>/dev/null || true
        wait "$s3seal_pid" 2>/dev/null || true
    fi
    if ((rgw_started)); then
        bash "$REPO_ROOT/tests/backend/stop-rgw.sh" >/dev/null 2>&1 || true
    fi
    rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

step() {
    printf '\n== %s\n' "$*"
}

if [[ ! -x $S3SEAL_BIN ]]; then
    printf 'demo: %s not found; build it first (see README.md, section Install)\n' "$S3SEAL_BIN" >&2
    exit 1
fi
# aws-cli must not pick up a CA bundle or credentials from the environment of this machine
unset AWS_CA_BUNDLE AWS_PROFILE AWS_SESSION_TOKEN

step "Starting Ceph RGW on 127.0.0.1:$RGW_PORT"
bash "$REPO_ROOT/tests/backend/start-rgw.sh" >/dev/null
rgw_started=1
# shellcheck disable=SC1091
source "$RGW_DIR/s3.env"

step "Creating a master key and starting s3seal on 127.0.0.1:$PROXY_PORT"
"$S3SEAL_BIN" keygen --out "$DEMO_DIR/master.key"
export S3SEAL_LISTEN=127.0.0.1:$PROXY_PORT
export S3SEAL_BACKEND_URL=$S3_ENDPOINT S3SEAL_BACKEND_REGION=$S3_REGION
export S3SEAL_BACKEND_ACCESS_KEY_ID=$S3_ACCESS_KEY S3SEAL_BACKEND_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export S3SEAL_ACCESS_KEY_ID=DEMOCLIENT S3SEAL_SECRET_ACCESS_KEY=demo-client-secret
export S3SEAL_KEY_FILE=$DEMO_DIR/master.key
"$S3SEAL_BIN" serve 2>"$DEMO_DIR/s3seal.log" &
s3seal_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PROXY_PORT") 2>/dev/null; then
        break
    fi
    sleep 0.1
done

printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n    multipart_threshold = 2GB\n' \
    "$S3_REGION" >"$DEMO_DIR/aws.config"
export AWS_CONFIG_FILE=$DEMO_DIR/aws.config AWS_DEFAULT_REGION=$S3_REGION
client() {
    AWS_ACCESS_KEY_ID=DEMOCLIENT AWS_SECRET_ACCESS_KEY=demo-client-secret \
        "$AWS" --endpoint-url "http://127.0.0.1:$PROXY_PORT" "$@"
}
backend() {
    AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY "$AWS" --endpoint-url "$S3_ENDPOINT" "$@"
}

step "Uploading a text file through s3seal"
printf 'Hello from s3seal. This line is the secret.\n' >"$DEMO_DIR/hello.txt"
client s3api create-bucket --bucket demo-bucket >/dev/null
client s3 cp "$DEMO_DIR/hello.txt" s3://demo-bucket/hello.txt

step "Downloading it through s3seal"
client s3 cp s3://demo-bucket/hello.txt - 

step "Listing through s3seal (plaintext size)"
client s3 ls s3://demo-bucket/

step "Reading the stored object straight from RGW (ciphertext, shown as hex)"
backend s3 cp s3://demo-bucket/hello.txt "$DEMO_DIR/stored.bin" >/dev/null
od -A d -t x1 "$DEMO_DIR/stored.bin" | head -n 6
printf 'stored size: %s bytes for a %s-byte file\n' "$(stat -c %s "$DEMO_DIR/stored.bin")" \
    "$(stat -c %s "$DEMO_DIR/hello.txt")"
if grep -q "secret" "$DEMO_DIR/stored.bin"; then
    printf 'demo: the plaintext is visible on the backend; this is a bug\n' >&2
    exit 1
fi
printf 'the word "secret" does not occur in the stored bytes\n'

step "The envelope s3seal stored in the object's metadata"
backend s3api head-object --bucket demo-bucket --key hello.txt --query Metadata

client s3 rm s3://demo-bucket/hello.txt >/dev/null
client s3api delete-bucket --bucket demo-bucket
step "Done; stopping s3seal and RGW"
