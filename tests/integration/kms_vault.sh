#!/usr/bin/env bash
# End-to-end test of the Vault transit key provider: s3seal in front of Ceph
# RGW wraps data keys with a transit key on tests/doubles/vault_transit_double.py.
# That server is a test double written from the public transit and AppRole
# API documentation, not Vault: no Vault or OpenBao server can be installed
# here. Its fidelity is checked first with hvac, an independent Vault client.
#
# Checks, with aws-cli v2 (/usr/bin/aws):
# - the double against hvac (tests/doubles/check_vault_double.py);
# - PUT and GET round trips of 0 bytes, 70 KiB and 20 MiB (multipart);
# - the backend stores ciphertext, with s3seal-kms "vault:<key name>" and a
#   wrapped key that is the transit ciphertext "vault:v1:...";
# - an envelope copied from one object onto another makes GET fail, and the
#   transit decrypt itself rejects the other context;
# - rotation: objects written under key versions 1 and 2 read back, and
#   min_decryption_version 2 makes the version 1 objects unreadable;
# - AppRole login, and a new login when the server drops the token;
# - the server answering 503 or too slowly: PUT gets 503 after about the
#   timeout and stores nothing, GET gets 503; the same with the server gone;
# - "s3seal decrypt --kms-env" of an object copied from RGW;
# - start-up messages that name the setting at fault;
# - wrap and unwrap latency against the double (tests/bench/kms_latency).
#
# Needs the Debian package python3-hvac, plus what lib.sh needs. Prints one
# "ok - ..." or "not ok - ..." line per check and exits 1 if any check failed.
set -euo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/integration/kms_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kms_lib.sh"

DOUBLE=$REPO_ROOT/tests/doubles/vault_transit_double.py
DOUBLE_CHECK=$REPO_ROOT/tests/doubles/check_vault_double.py
ROOT_TOKEN=s3seal-it-root-token
ROLE_ID=s3seal-it-role
SECRET_ID=s3seal-it-secret
KEY_NAME=s3seal-it
TIMEOUT_MS=1500
# lifetime of AppRole tokens from the double, in seconds
TOKEN_TTL_S=30

BUCKET=""
DOUBLE_PID=""
DOUBLE_URL=""
TOKEN_FILE=""
SECRET_ID_FILE=""

stop_double() {
    if [[ -n $DOUBLE_PID ]]; then
        kill -TERM "$DOUBLE_PID" 2>/dev/null || true
        wait "$DOUBLE_PID" 2>/dev/null || true
        DOUBLE_PID=""
    fi
}

on_exit() {
    local rc=$?
    # a failing step here must not end the handler before the backend is stopped
    set +e
    stop_double
    testlib_on_exit_with "$rc"
}

# Calls testlib_on_exit with $? set to $1, since testlib_on_exit reads the exit status from $?.
testlib_on_exit_with() {
    (exit "$1")
    testlib_on_exit
}

trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_double() {
    local port deadline log=$WORK_DIR/double.log
    port=$(free_port)
    "$PYTHON_BIN" "$DOUBLE" --port "$port" --root-token "$ROOT_TOKEN" --role-id "$ROLE_ID" \
        --secret-id "$SECRET_ID" --token-ttl "$TOKEN_TTL_S" >"$log" 2>&1 &
    DOUBLE_PID=$!
    deadline=$(($(now_us) + 10000000))
    until grep -q 'listening on' "$log"; do
        kill -0 "$DOUBLE_PID" 2>/dev/null || fail "the Vault transit double exited: $(one_line "$log")"
        (($(now_us) < deadline)) || fail "the Vault transit double did not start within 10 s"
        sleep 0.05
    done
    DOUBLE_URL=http://127.0.0.1:$port
    note "Vault transit double (a stand-in, not Vault) PID $DOUBLE_PID on $DOUBLE_URL"
}

# Sends a JSON body $2 to the double's path $1 with the root token; prints the reply.
vault_post() {
    curl -sS -H "X-Vault-Token: $ROOT_TOKEN" -H 'Content-Type: application/json' -X POST -d "$2" "$DOUBLE_URL/v1/$1"
}

double_control() {
    curl -sS -X POST -d "$1" "$DOUBLE_URL/__double/control" >/dev/null
}

double_stat() {
    curl -sS "$DOUBLE_URL/__double/stats" >"$WORK_DIR/stats.json"
    json_field "$WORK_DIR/stats.json" "d.get('$1', 0)"
}

make_secret_files() {
    TOKEN_FILE=$WORK_DIR/vault-token
    SECRET_ID_FILE=$WORK_DIR/vault-secret-id
    (umask 077 && printf '%s\n' "$ROOT_TOKEN" >"$TOKEN_FILE" && printf '%s\n' "$SECRET_ID" >"$SECRET_ID_FILE")
}

# The data key cache is off and unwraps are not retried, so every GET asks the KMS once and the
# outage checks can bound its time by one S3SEAL_VAULT_TIMEOUT_MS.
vault_env() {
    printf '%s\n' "S3SEAL_KMS_PROVIDER=vault" "S3SEAL_VAULT_ADDR=$DOUBLE_URL" "S3SEAL_VAULT_KEY_NAME=$KEY_NAME" \
        "S3SEAL_VAULT_TIMEOUT_MS=$TIMEOUT_MS" "S3SEAL_KEY_CACHE_SIZE=0" "S3SEAL_KMS_RETRIES=0"
}

token_env() {
    vault_env
    printf '%s\n' "S3SEAL_VAULT_TOKEN_FILE=$TOKEN_FILE"
}

approle_env() {
    vault_env
    printf '%s\n' "S3SEAL_VAULT_ROLE_ID=$ROLE_ID" "S3SEAL_VAULT_SECRET_ID_FILE=$SECRET_ID_FILE"
}

backend_head() {
    aws_backend s3api head-object --bucket "$BUCKET" --key "$1" >"$WORK_DIR/raw-head.json"
}

# Prints the first 9 bytes of the wrapped data key that the backend stores for key $1.
backend_wrapped_prefix() {
    backend_head "$1"
    json_field "$WORK_DIR/raw-head.json" \
        "__import__('base64').b64decode((d.get('Metadata') or {}).get('s3seal-dek', ''))[:9].decode('ascii', 'replace')"
}

test_round_trips() {
    local size key file raw=$WORK_DIR/raw.bin
    local multipart_config=$WORK_DIR/aws-multipart.config

    sed 's/multipart_threshold = .*/multipart_threshold = 8MB\n    multipart_chunksize = 8MB/' \
        "$AWS_CONFIG_FILE" >"$multipart_config"
    for size in 0 71680 20971520; do
        key=vault-$size
        file=$WORK_DIR/plain-$size
        make_file "$file" "$size"
        if ((size > 8388608)); then
            AWS_CONFIG_FILE=$multipart_config put_object "$file" "$key"
            backend_head "$key"
            check_equal "$key: stored as a multipart upload of 3 parts" '-3"' \
                "$(json_field "$WORK_DIR/raw-head.json" "d.get('ETag')[-3:]")"
        else
            put_object "$file" "$key"
        fi
        check_get "$key: GET returns what PUT stored" "$file" "$key"
        check_equal "$key: backend s3seal-kms names the transit key" "vault:$KEY_NAME" "$(backend_kms_id "$key")"
        check_equal "$key: the wrapped key is a transit ciphertext of key version 1" "vault:v1:" \
            "$(backend_wrapped_prefix "$key")"
        if ((size > 0)); then
            aws_backend s3 cp --only-show-errors "s3://$BUCKET/$key" "$raw"
            if cmp -s "$file" "$raw" || [[ $(stat -c %s "$raw") -le $size ]]; then
                flunk "$key: backend holds ciphertext" "backend object equals the plaintext or is not larger"
            else
                pass "$key: backend holds ciphertext"
            fi
        fi
    done
}

test_envelope_swap() {
    local a=$WORK_DIR/swap-a b=$WORK_DIR/swap-b rejected_before rejected_after
    make_file "$a" 71680
    make_file "$b" 71680
    put_object "$a" swap-a
    put_object "$b" swap-b
    check_get "swap-a: GET works before the swap" "$a" swap-a
    swap_envelope swap-a swap-b
    rejected_before=$(grep -c 'vault decrypt rejected.*status=400.*message authentication failed' "$S3SEAL_LOG" || true)
    check_get_fails "swap-a: GET fails with the envelope of another object" "" swap-a
    rejected_after=$(grep -c 'vault decrypt rejected.*status=400.*message authentication failed' "$S3SEAL_LOG" || true)
    if ((rejected_after > rejected_before)); then
        pass "swap-a: transit decrypt itself rejected the other object's context (400)"
    else
        flunk "swap-a: transit decrypt itself rejected the other object's context (400)" \
            "no 'vault decrypt rejected ... 400' line in $S3SEAL_LOG"
    fi
    check_get "swap-b: GET of the source object still works" "$b" swap-b
}

test_rotation() {
    local v1=$WORK_DIR/rot-v1 v2=$WORK_DIR/rot-v2
    make_file "$v1" 71680
    make_file "$v2" 71680
    put_object "$v1" rot-v1
    vault_post "transit/keys/$KEY_NAME/rotate" '{}' >"$WORK_DIR/rotate.json"
    check_equal "rotation: the double's key is at version 2" 2 \
        "$(json_field "$WORK_DIR/rotate.json" "d['data']['latest_version']")"
    put_object "$v2" rot-v2
    check_equal "rotation: a new object is wrapped with version 2" "vault:v2:" "$(backend_wrapped_prefix rot-v2)"
    check_equal "rotation: an older object keeps version 1" "vault:v1:" "$(backend_wrapped_prefix rot-v1)"
    check_get "rotation: version 1 object reads back" "$v1" rot-v1
    check_get "rotation: version 2 object reads back" "$v2" rot-v2
    check_get "rotation: 70 KiB object from before the rotation reads back" "$WORK_DIR/plain-71680" vault-71680

    vault_post "transit/keys/$KEY_NAME/config" '{"min_decryption_version": 2}' >/dev/null
    check_get_fails "rotation: min_decryption_version 2 makes version 1 objects unreadable" "" rot-v1
    check_get "rotation: version 2 objects stay readable under min_decryption_version 2" "$v2" rot-v2
    vault_post "transit/keys/$KEY_NAME/config" '{"min_decryption_version": 1}' >/dev/null
    check_get "rotation: version 1 readable again after min_decryption_version 1" "$v1" rot-v1
}

test_approle() {
    local file=$WORK_DIR/approle logins_before logins_after
    S3SEAL_START_ENV=()
    mapfile -t S3SEAL_START_ENV < <(approle_env)
    s3seal_start
    make_file "$file" 71680
    put_object "$file" approle-1
    check_get "approle: PUT and GET with a token from an AppRole login" "$file" approle-1
    logins_before=$(double_stat logins)
    double_control '{"expire_tokens": true}'
    put_object "$file" approle-2
    check_get "approle: PUT and GET work after the server dropped the token" "$file" approle-2
    logins_after=$(double_stat logins)
    if ((logins_after > logins_before)); then
        pass "approle: s3seal logged in again after a 403"
    else
        flunk "approle: s3seal logged in again after a 403" "logins $logins_before before, $logins_after after"
    fi
    if grep -q "$SECRET_ID\|hvs\.\|$ROOT_TOKEN" "$S3SEAL_LOG"; then
        flunk "approle: no token or secret ID in the log" "found in $S3SEAL_LOG"
    else
        pass "approle: no token or secret ID in the log"
    fi
    s3seal_stop
}

# Runs aws-cli s3api with one attempt; prints "<exit status> <seconds>" and leaves stderr in $WORK_DIR/s3api.err.
s3api_once() {
    local start rc=0
    start=$(now_us)
    AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard aws_proxy s3api "$@" >/dev/null 2>"$WORK_DIR/s3api.err" || rc=$?
    printf '%s %s\n' "$rc" "$(elapsed_s "$start")"
}

check_unavailable() {
    local name=$1 max_s=$2 result seconds
    shift 2
    result=$(s3api_once "$@")
    seconds=${result#* }
    if [[ ${result%% *} != 0 ]] && grep -q 'ServiceUnavailable\|503' "$WORK_DIR/s3api.err"; then
        pass "$name: 503 ServiceUnavailable"
    else
        flunk "$name: 503 ServiceUnavailable" "exit ${result%% *}: $(one_line "$WORK_DIR/s3api.err")"
    fi
    if awk -v s="$seconds" -v m="$max_s" 'BEGIN { exit !(s <= m) }'; then
        pass "$name: answered within $max_s s (took $seconds s)"
    else
        flunk "$name: answered within $max_s s" "took $seconds s"
    fi
}

check_not_stored() {
    if aws_backend s3api head-object --bucket "$BUCKET" --key "$2" >/dev/null 2>&1; then
        flunk "$1: nothing stored" "the backend has $2"
    else
        pass "$1: nothing stored"
    fi
}

# While a GET waits on the slow KMS, s3seal's only event loop (S3SEAL_WORKERS=1)
# serves a HEAD, which needs no KMS call: the GET is still running when the
# HEAD response arrives. curl starts at once, unlike aws-cli.
check_loop_not_blocked() {
    local get_pid head_rc=0
    local sign=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$CLIENT_ACCESS_KEY:$CLIENT_SECRET_KEY"
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
    curl -sS -o /dev/null "${sign[@]}" "$PROXY_ENDPOINT/$BUCKET/vault-20971520" 2>/dev/null &
    get_pid=$!
    sleep 0.3
    curl -sS --fail -o /dev/null -I "${sign[@]}" "$PROXY_ENDPOINT/$BUCKET/vault-71680" \
        2>"$WORK_DIR/head.err" || head_rc=$?
    if ((head_rc == 0)) && kill -0 "$get_pid" 2>/dev/null; then
        pass "slow KMS: a HEAD is served while a GET waits for the KMS"
    else
        flunk "slow KMS: a HEAD is served while a GET waits for the KMS" \
            "HEAD exit $head_rc: $(one_line "$WORK_DIR/head.err"); GET $(kill -0 "$get_pid" 2>/dev/null && echo running || echo done)"
    fi
    wait "$get_pid" || true
}

test_outages() {
    local file=$WORK_DIR/outage result
    make_file "$file" 71680

    double_control '{"fail_status": 503}'
    check_unavailable "KMS answers 503: PUT" 10 put-object --bucket "$BUCKET" --key outage-503 --body "$file"
    check_not_stored "KMS answers 503: PUT" outage-503
    check_unavailable "KMS answers 503: GET" 10 get-object --bucket "$BUCKET" --key vault-71680 "$WORK_DIR/o.out"
    double_control '{"fail_status": 0}'

    # far longer than the timeout, so the bound below separates a clean timeout from a wait for the
    # double even on a loaded machine
    double_control '{"delay_ms": 30000}'
    check_loop_not_blocked
    check_unavailable "KMS slower than S3SEAL_VAULT_TIMEOUT_MS=$TIMEOUT_MS: PUT" 20 put-object \
        --bucket "$BUCKET" --key outage-slow --body "$file"
    check_not_stored "KMS slower than the timeout: PUT" outage-slow
    check_unavailable "KMS slower than S3SEAL_VAULT_TIMEOUT_MS=$TIMEOUT_MS: GET" 20 get-object \
        --bucket "$BUCKET" --key vault-71680 "$WORK_DIR/o.out"
    double_control '{"delay_ms": 0}'
    check_get "KMS fast again: GET works" "$WORK_DIR/plain-71680" vault-71680
}

test_decrypt_offline() {
    local key=vault-20971520 stored=$WORK_DIR/dec.stored out=$WORK_DIR/dec.plain rc=0
    local settings=()
    aws_backend s3api head-object --bucket "$BUCKET" --key "$key" >"$WORK_DIR/dec.head.json"
    aws_backend s3 cp --only-show-errors "s3://$BUCKET/$key" "$stored"
    mapfile -t settings < <(token_env)
    env "${settings[@]}" "$(s3seal_bin_path)" decrypt --kms-env --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/dec.head.json" --in "$stored" --out "$out" 2>"$WORK_DIR/dec.err" || rc=$?
    if ((rc == 0)) && cmp -s "$WORK_DIR/plain-20971520" "$out"; then
        pass "s3seal decrypt --kms-env of a multipart object copied from RGW matches the original"
    else
        flunk "s3seal decrypt --kms-env matches the original" "exit $rc: $(one_line "$WORK_DIR/dec.err")"
    fi
    rc=0
    env "${settings[@]}" "$(s3seal_bin_path)" inspect --verify --kms-env --bucket "$BUCKET" --key "$key" \
        --metadata "$WORK_DIR/dec.head.json" >"$WORK_DIR/inspect.out" 2>&1 || rc=$?
    if ((rc == 0)) && grep -q '^envelope valid$' "$WORK_DIR/inspect.out"; then
        pass "s3seal inspect --verify --kms-env: envelope valid"
    else
        flunk "s3seal inspect --verify --kms-env" "exit $rc: $(one_line "$WORK_DIR/inspect.out")"
    fi
}

test_setting_messages() {
    local settings=()
    mapfile -t settings < <(vault_env)
    check_config_fails "vault without an address is rejected" "S3SEAL_VAULT_ADDR" S3SEAL_KMS_PROVIDER=vault \
        S3SEAL_VAULT_KEY_NAME=$KEY_NAME S3SEAL_VAULT_TOKEN=x
    check_config_fails "a wrong token names the token setting" "S3SEAL_VAULT_TOKEN" "${settings[@]}" \
        S3SEAL_VAULT_TOKEN=wrong-token
    check_config_fails "a missing key is named with the command to create it" "vault write -f transit/keys/nope" \
        "${settings[@]}" S3SEAL_VAULT_TOKEN_FILE="$TOKEN_FILE" S3SEAL_VAULT_KEY_NAME=nope
    check_config_fails "a wrong AppRole secret ID names the AppRole settings" "S3SEAL_VAULT_SECRET_ID" \
        "${settings[@]}" S3SEAL_VAULT_ROLE_ID=$ROLE_ID S3SEAL_VAULT_SECRET_ID=wrong
    check_config_fails "a token file readable by others is rejected" "chmod o-rwx" "${settings[@]}" \
        S3SEAL_VAULT_TOKEN_FILE="$WORK_DIR/open-token"
}

test_latency() {
    local bench settings=() out=$WORK_DIR/latency.out
    bench=$(dirname "$(s3seal_bin_path)")/tests/bench/kms_latency
    [[ -x $bench ]] || { flunk "latency: kms_latency built" "$bench not found"; return; }
    mapfile -t settings < <(token_env)
    if env "${settings[@]}" "$bench" 200 >"$out" 2>&1; then
        pass "latency: 200 wraps and 200 unwraps against the double"
        note "latency against the double (not Vault): $(one_line "$out")"
    else
        flunk "latency: 200 wraps and 200 unwraps against the double" "$(one_line "$out")"
    fi
}

test_double_gone() {
    local file=$WORK_DIR/gone
    make_file "$file" 71680
    stop_double
    check_unavailable "KMS stopped: PUT" 10 put-object --bucket "$BUCKET" --key gone --body "$file"
    check_not_stored "KMS stopped: PUT" gone
    check_unavailable "KMS stopped: GET" 10 get-object --bucket "$BUCKET" --key vault-71680 "$WORK_DIR/o.out"
}

main() {
    local settings=()
    testlib_init kms_vault
    s3seal_check_bin
    /usr/bin/python3 -c 'import hvac' 2>/dev/null || fail "hvac not found; install the Debian package python3-hvac"
    start_double
    run_helper "the double passes the hvac checks" "$PYTHON_BIN" "$DOUBLE_CHECK" "$DOUBLE_URL" "$ROOT_TOKEN" \
        "$ROLE_ID" "$SECRET_ID"
    vault_post "transit/keys/$KEY_NAME" '{"type": "aes256-gcm96"}' >/dev/null
    make_secret_files
    (umask 002 && printf '%s\n' "$ROOT_TOKEN" >"$WORK_DIR/open-token")
    backend_start

    mapfile -t settings < <(token_env)
    S3SEAL_START_ENV=("${settings[@]}" "S3SEAL_WORKERS=1")
    s3seal_start
    BUCKET=$(unique_bucket_name s3seal-vault)
    create_bucket aws_proxy "$BUCKET" >/dev/null
    test_round_trips
    test_envelope_swap
    test_rotation
    test_outages
    s3seal_stop

    test_approle
    test_decrypt_offline
    test_setting_messages
    test_latency

    S3SEAL_START_ENV=("${settings[@]}")
    s3seal_start
    test_double_gone
    s3seal_stop

    printf '%d checks, %d failed\n' "$checks" "$failures"
    ((failures == 0))
}

main "$@"
