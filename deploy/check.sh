#!/usr/bin/env bash
# Checks the files in deploy/ with the tools a Debian machine has, without a
# container engine:
#   - shellcheck on every shell script in deploy/;
#   - every YAML file parses, and the Kubernetes probes match the admin port;
#   - systemd-analyze verify on the unit, and its systemd-analyze security
#     exposure score stays at or below 2.0;
#   - the Compose file passes "docker compose config" (or docker-compose 1.x);
#   - deploy/compose-certs.sh, run into a temporary folder: the server
#     certificate verifies against the CA, names vault, localhost and
#     127.0.0.1, the keys have restrictive modes, a second run keeps every
#     file;
#   - the health check script against a test double (200, 503, refused, no
#     address) and against a locally started s3seal when the binary has the
#     admin listener.
# With --image it also builds deploy/Dockerfile with podman from a base
# image made by debootstrap, runs it with --network=host and does the
# aws-cli round trip of deploy/roundtrip.sh against a local Ceph RGW. That
# part needs root, the Debian mirror and several minutes.
#
# Usage: bash deploy/check.sh [--image]
# S3SEAL_BIN names the binary (default build/s3seal). Ends with the line
# "N passed, N failed, N skipped"; exits 1 when any check failed.
set -uo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$REPO_ROOT/deploy
S3SEAL_BIN=${S3SEAL_BIN:-$REPO_ROOT/build/s3seal}
[[ $S3SEAL_BIN == /* ]] || S3SEAL_BIN=$REPO_ROOT/$S3SEAL_BIN
PY=/usr/bin/python3 # Debian's, which sees python3-yaml
WITH_IMAGE=0
if [[ ${1:-} == --image ]]; then
    WITH_IMAGE=1
elif [[ -n ${1:-} ]]; then
    echo "usage: bash deploy/check.sh [--image]" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/s3seal-deploy-check.XXXXXX)
PIDS=()
RGW_STARTED=0
CONTAINER=""
passed=0 failed=0 skipped=0

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ -n $CONTAINER ]]; then
        podman --runtime runc rm -f "$CONTAINER" >/dev/null 2>&1
    fi
    if ((RGW_STARTED)); then
        RGW_DIR=$WORK/rgw bash "$REPO_ROOT/tests/backend/stop-rgw.sh" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

pass() {
    passed=$((passed + 1))
    printf 'check: passed: %s\n' "$*"
}
flunk() {
    failed=$((failed + 1))
    printf 'check: FAILED: %s\n' "$*"
}
skip() {
    skipped=$((skipped + 1))
    printf 'check: skipped: %s\n' "$*"
}
# Runs "$@" quietly; passes with NAME, or fails with NAME and the output.
run_check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$name"
    else
        flunk "$name"
        printf '%s\n' "$out" | sed 's/^/    /'
    fi
}
free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}
wait_for_port() {
    local port=$1
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

check_shell() {
    local f
    if ! command -v shellcheck >/dev/null; then
        skip "shellcheck: not installed (Debian package shellcheck)"
        return
    fi
    for f in "$DEPLOY"/*.sh; do
        run_check "shellcheck ${f#"$REPO_ROOT"/}" shellcheck "$f"
    done
}

check_yaml() {
    local f
    if ! "$PY" -c 'import yaml' 2>/dev/null; then
        skip "YAML: $PY cannot import yaml (Debian package python3-yaml)"
        return
    fi
    while IFS= read -r f; do
        run_check "YAML parses: ${f#"$REPO_ROOT"/}" "$PY" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
sys.exit(0 if docs else "no document in " + sys.argv[1])' "$f"
    done < <(find "$DEPLOY" -name '*.yml' -o -name '*.yaml' | sort)
    run_check "Kubernetes sidecar: probes on the admin port, /readyz and /healthz" "$PY" - \
        "$DEPLOY/kubernetes/sidecar.yaml" <<'EOF'
import sys, yaml
pod = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
c = next(c for c in pod["containers"] if c["name"] == "s3seal")
env = {e["name"]: e.get("value") for e in c["env"]}
port = int(env["S3SEAL_ADMIN_LISTEN"].rsplit(":", 1)[1])
named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
want = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
for probe, path in want.items():
    get = c[probe]["httpGet"]
    p = named.get(get["port"], get["port"])
    assert get["path"] == path, f"{probe} asks {get['path']}, expected {path}"
    assert p == port, f"{probe} uses port {p}, the admin listener is on {port}"
assert env["S3SEAL_LISTEN"].startswith("127.0.0.1:"), "the S3 listener must stay inside the Pod"
EOF
}

check_systemd() {
    local unit=$WORK/s3seal.service score
    if ! command -v systemd-analyze >/dev/null; then
        skip "systemd-analyze: not installed (Debian package systemd)"
        return
    fi
    if [[ ! -x $S3SEAL_BIN ]]; then
        skip "systemd-analyze verify: $S3SEAL_BIN not built, and verify needs ExecStart to exist"
        return
    fi
    # verify checks that ExecStart exists, so point it at the built binary.
    sed "s|/usr/local/bin/s3seal|$S3SEAL_BIN|g" "$DEPLOY/systemd/s3seal.service" >"$unit"
    run_check "systemd-analyze verify deploy/systemd/s3seal.service" systemd-analyze verify "$unit"
    score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
        awk '/Overall exposure level/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) print $i }')
    if [[ -z $score ]]; then
        flunk "systemd-analyze security --offline=yes printed no exposure level"
    elif awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        pass "systemd-analyze security: exposure $score (at most 2.0 allowed)"
    else
        flunk "systemd-analyze security: exposure $score is above 2.0"
    fi
}

check_compose() {
    local env_file=$WORK/compose.env
    cp "$DEPLOY/compose.env.example" "$env_file"
    if docker compose version >/dev/null 2>&1; then
        run_check "docker compose config" docker compose --env-file "$env_file" \
            -f "$DEPLOY/docker-compose.yml" config --quiet
    elif command -v docker-compose >/dev/null; then
        run_check "docker-compose config ($(docker-compose version --short 2>/dev/null))" \
            docker-compose --env-file "$env_file" -f "$DEPLOY/docker-compose.yml" config --quiet
    else
        skip "compose config: neither 'docker compose' nor docker-compose is installed"
    fi
}

# same_public_key KEY CERT: the private key KEY belongs to the certificate CERT.
same_public_key() {
    cmp -s <(openssl pkey -in "$1" -pubout) <(openssl x509 -in "$2" -noout -pubkey)
}

# deploy/compose-certs.sh, run into a temporary folder.
check_compose_certs() {
    local dir=$WORK/certs out sans san before after key_want
    if ! command -v openssl >/dev/null; then
        skip "compose-certs.sh: openssl is not installed (Debian package openssl)"
        return
    fi
    if ! out=$(bash "$DEPLOY/compose-certs.sh" "$dir" 2>&1); then
        flunk "compose-certs.sh into an empty folder"
        printf '%s\n' "$out" | sed 's/^/    /'
        return
    fi
    run_check "compose-certs.sh makes ca.pem, ca.key, vault.pem and vault.key" \
        test -s "$dir/ca.pem" -a -s "$dir/ca.key" -a -s "$dir/vault.pem" -a -s "$dir/vault.key"
    run_check "compose-certs.sh: vault.pem verifies against ca.pem as a TLS server certificate" \
        openssl verify -purpose sslserver -CAfile "$dir/ca.pem" "$dir/vault.pem"
    run_check "compose-certs.sh: vault.key is the key of vault.pem" same_public_key "$dir/vault.key" "$dir/vault.pem"
    sans=$(openssl x509 -in "$dir/vault.pem" -noout -ext subjectAltName 2>&1 | tail -n +2 | tr ',' '\n' | sed 's/^ *//')
    for san in DNS:vault DNS:localhost "IP Address:127.0.0.1"; do
        if grep -qxF "$san" <<<"$sans"; then
            pass "compose-certs.sh: vault.pem's subjectAltName has $san"
        else
            flunk "compose-certs.sh: vault.pem's subjectAltName has $san"
            printf '    %s\n' "$sans"
        fi
    done
    # Run as root, the script gives vault.key to Vault's uid; as anyone
    # else it keeps it to that user.
    key_want="400 100:1000"
    if ((EUID != 0)); then
        key_want="600 $(id -u):$(id -g)"
    fi
    run_check "compose-certs.sh: vault.key has mode and owner $key_want" \
        test "$(stat -c '%a %u:%g' "$dir/vault.key")" = "$key_want"
    run_check "compose-certs.sh: ca.key has mode 0600" test "$(stat -c '%a' "$dir/ca.key")" = 600
    run_check "compose-certs.sh: ca.pem and vault.pem have mode 0644" \
        test "$(stat -c '%a' "$dir/ca.pem" "$dir/vault.pem" | tr '\n' ' ')" = "644 644 "
    before=$(cd "$dir" && sha256sum ca.pem ca.key vault.pem vault.key && stat -c '%n %a %u %g %i %Y' ca.pem ca.key vault.pem vault.key)
    if ! out=$(bash "$DEPLOY/compose-certs.sh" "$dir" 2>&1); then
        flunk "compose-certs.sh: a second run succeeds"
        printf '%s\n' "$out" | sed 's/^/    /'
        return
    fi
    after=$(cd "$dir" && sha256sum ca.pem ca.key vault.pem vault.key && stat -c '%n %a %u %g %i %Y' ca.pem ca.key vault.pem vault.key)
    if [[ $before == "$after" ]] && grep -q keeping <<<"$out"; then
        pass "compose-certs.sh: a second run keeps every file (content, mode, owner, inode)"
    else
        flunk "compose-certs.sh: a second run keeps every file (content, mode, owner, inode)"
        diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed 's/^/    /'
    fi
    cp -a "$dir" "$WORK/certs-half"
    rm "$WORK/certs-half/vault.pem"
    if ! bash "$DEPLOY/compose-certs.sh" "$WORK/certs-half" >/dev/null 2>&1 &&
        cmp -s "$dir/vault.key" "$WORK/certs-half/vault.key" && [[ ! -e $WORK/certs-half/vault.pem ]]; then
        pass "compose-certs.sh: vault.key without vault.pem is an error, and vault.key is kept"
    else
        flunk "compose-certs.sh: vault.key without vault.pem is an error, and vault.key is kept"
    fi
}

# expect_health NAME WANT_STATUS ARGS...: runs the health check script.
expect_health() {
    local name=$1 want=$2 rc out
    shift 2
    out=$(bash "$DEPLOY/healthcheck.sh" "$@" 2>&1)
    rc=$?
    if ((rc == want)); then
        pass "healthcheck.sh $name: exit $rc"
    else
        flunk "healthcheck.sh $name: exit $rc, expected $want"
        printf '    %s\n' "$out"
    fi
}

check_healthcheck_double() {
    local port
    port=$(free_port)
    "$PY" - "$port" <<'EOF' &
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/healthz"
        body = b"ok\n" if ok else b"cannot connect to the backend 127.0.0.1:9: Connection refused\n"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF
    PIDS+=($!)
    if ! wait_for_port "$port"; then
        flunk "healthcheck.sh: the test double did not start on 127.0.0.1:$port"
        return
    fi
    expect_health "200 from the double" 0 /healthz "127.0.0.1:$port"
    expect_health "503 from the double" 1 /readyz "127.0.0.1:$port"
    expect_health "wildcard address 0.0.0.0 checked on loopback" 0 /healthz "0.0.0.0:$port"
    expect_health "nothing listening" 1 /readyz "127.0.0.1:$(free_port)"
    S3SEAL_ADMIN_LISTEN='' expect_health "no admin address" 1
}

# The real s3seal: /healthz returns 200 without a backend, and /readyz
# returns 503 while the backend's port is closed.
check_healthcheck_s3seal() {
    local listen admin dead key=$WORK/master.key
    if [[ ! -x $S3SEAL_BIN ]]; then
        skip "healthcheck.sh against s3seal: $S3SEAL_BIN not built"
        return
    fi
    if ! "$S3SEAL_BIN" serve --help | grep -q S3SEAL_ADMIN_LISTEN; then
        skip "healthcheck.sh against s3seal: this binary has no admin listener (S3SEAL_ADMIN_LISTEN)"
        return
    fi
    listen=$(free_port)
    admin=$(free_port)
    dead=$(free_port)
    "$S3SEAL_BIN" keygen --out "$key" >/dev/null
    S3SEAL_LISTEN=127.0.0.1:$listen S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin \
        S3SEAL_BACKEND_URL=http://127.0.0.1:$dead S3SEAL_BACKEND_ACCESS_KEY_ID=CHECKBACKEND \
        S3SEAL_BACKEND_SECRET_ACCESS_KEY=check-backend-secret S3SEAL_ACCESS_KEY_ID=CHECKCLIENT \
        S3SEAL_SECRET_ACCESS_KEY=check-client-secret S3SEAL_KEY_FILE=$key S3SEAL_WORKERS=1 \
        "$S3SEAL_BIN" serve 2>"$WORK/s3seal.log" &
    PIDS+=($!)
    if ! wait_for_port "$admin"; then
        flunk "healthcheck.sh against s3seal: the admin listener did not open 127.0.0.1:$admin"
        sed 's/^/    /' "$WORK/s3seal.log"
        return
    fi
    S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin expect_health "/healthz of a running s3seal" 0 /healthz
    S3SEAL_ADMIN_LISTEN=127.0.0.1:$admin expect_health "/readyz of s3seal with its backend down" 1 /readyz
}

# Builds the image from a debootstrap base, runs it on the host network and
# does the aws-cli round trip against a local Ceph RGW.
check_image() {
    local rootfs=$WORK/rootfs commit port admin
    # runc: crun refuses this machine's hybrid cgroup layout. The limits are
    # lowered because raising them needs CAP_SYS_RESOURCE, which root in a
    # container lacks.
    local run=(podman --runtime runc) limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
    for tool in podman runc debootstrap /usr/bin/aws; do
        if ! command -v "$tool" >/dev/null; then
            skip "image: $tool is not installed (Debian packages podman runc debootstrap awscli)"
            return
        fi
    done
    if ! podman image exists docker.io/library/debian:bookworm; then
        if ! debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1; then
            flunk "image: debootstrap --variant=minbase bookworm failed"
            tail -n 5 "$WORK/debootstrap.log" | sed 's/^/    /'
            return
        fi
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm >/dev/null &&
            podman tag docker.io/library/debian:bookworm docker.io/library/debian:bookworm-slim
        rm -rf "$rootfs"
    fi
    commit=$(git -C "$REPO_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    # --isolation=chroot: crun refuses this machine's hybrid cgroup layout.
    # --format docker: the OCI format drops HEALTHCHECK.
    if ! podman build --pull=never --network=host --isolation=chroot --format docker \
        -f "$DEPLOY/Dockerfile" --build-arg S3SEAL_GIT_COMMIT="$commit" -t localhost/s3seal:check \
        "$REPO_ROOT" >"$WORK/build.log" 2>&1; then
        flunk "image: podman build -f deploy/Dockerfile"
        tail -n 15 "$WORK/build.log" | sed 's/^/    /'
        return
    fi
    pass "image: podman build -f deploy/Dockerfile"

    RGW_DIR=$WORK/rgw RGW_PORT=$(free_port) bash "$REPO_ROOT/tests/backend/start-rgw.sh" >/dev/null 2>"$WORK/rgw.log" ||
        { flunk "image: cannot start Ceph RGW for the round trip"; return; }
    RGW_STARTED=1
    # shellcheck disable=SC1091
    source "$WORK/rgw/s3.env"
    # The key is made by the image's own keygen, as uid 10001, the way the
    # Compose file's one-shot job makes it.
    install -d -o 10001 -g 10001 -m 0700 "$WORK/keys"
    if ! "${run[@]}" run --rm "${limits[@]}" --read-only --cap-drop=ALL -v "$WORK/keys:/var/lib/s3seal" \
        --entrypoint /usr/local/bin/s3seal localhost/s3seal:check keygen --out /var/lib/s3seal/master.key \
        >"$WORK/keygen.log" 2>&1; then
        flunk "image: s3seal keygen in the container"
        sed 's/^/    /' "$WORK/keygen.log"
        return
    fi
    port=$(free_port)
    admin=$(free_port)
    CONTAINER=s3seal-check-$$
    if ! "${run[@]}" run -d --name "$CONTAINER" "${limits[@]}" --read-only --cap-drop=ALL \
        --security-opt no-new-privileges --network=host -v "$WORK/keys:/var/lib/s3seal:ro" \
        -e S3SEAL_LISTEN="127.0.0.1:$port" -e S3SEAL_ADMIN_LISTEN="127.0.0.1:$admin" \
        -e S3SEAL_BACKEND_URL="$S3_ENDPOINT" -e S3SEAL_BACKEND_ACCESS_KEY_ID="$S3_ACCESS_KEY" \
        -e S3SEAL_BACKEND_SECRET_ACCESS_KEY="$S3_SECRET_KEY" -e S3SEAL_ACCESS_KEY_ID=CHECKCLIENT \
        -e S3SEAL_SECRET_ACCESS_KEY=check-client-secret -e S3SEAL_WORKERS=1 \
        localhost/s3seal:check >"$WORK/run.log" 2>&1; then
        flunk "image: podman run"
        sed 's/^/    /' "$WORK/run.log"
        return
    fi
    if ! wait_for_port "$port"; then
        flunk "image: s3seal in the container did not open 127.0.0.1:$port"
        "${run[@]}" logs "$CONTAINER" 2>&1 | tail -n 5 | sed 's/^/    /'
        return
    fi
    run_check "image: runs as uid 10001" bash -c "[[ \$(${run[*]} exec $CONTAINER id -u) == 10001 ]]"
    run_check "image: aws-cli round trip through the container (deploy/roundtrip.sh)" \
        env PROXY_URL="http://127.0.0.1:$port" BACKEND_URL="$S3_ENDPOINT" AWS=/usr/bin/aws \
        S3SEAL_CLIENT_ACCESS_KEY_ID=CHECKCLIENT S3SEAL_CLIENT_SECRET_ACCESS_KEY=check-client-secret \
        MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" bash "$DEPLOY/roundtrip.sh"
    if "${run[@]}" exec "$CONTAINER" s3seal serve --help | grep -q S3SEAL_ADMIN_LISTEN; then
        run_check "image: HEALTHCHECK (/readyz) reports healthy" "${run[@]}" healthcheck run "$CONTAINER"
    else
        skip "image: HEALTHCHECK: the binary in the image has no admin listener (S3SEAL_ADMIN_LISTEN)"
    fi
}

cd "$REPO_ROOT" || exit 1
check_shell
check_yaml
check_systemd
check_compose
check_compose_certs
check_healthcheck_double
check_healthcheck_s3seal
if ((WITH_IMAGE)); then
    check_image
fi
printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
((failed == 0))
