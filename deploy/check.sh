#!/usr/bin/env bash
# Checks the files in deploy/ with the tools a Debian machine has, without a
# container engine:
#   - shellcheck on every shell script in deploy/;
#   - every YAML file parses, and the Kubernetes probes match the admin port;
#   - systemd-analyze verify on the unit, and its systemd-analyze security
#     exposure score stays at or below 2.0;
#   - the Compose file passes "docker compose config" (or docker-compose 1.x)
#     with an .env made from compose.env.example;
#   - its services are wired as documented: Vault with a pinned image, file
#     storage and no published port, the init job alone with the unseal
#     key's volume, s3seal on the Vault provider with the CA and the secret
#     ID mounted read-only;
#   - deploy/vault-server.hcl parses as HCL (pyhcl) and names the paths the
#     Compose file mounts;
#   - deploy/compose-certs.sh, run into a temporary folder: the server
#     certificate verifies against the CA, names vault, localhost and
#     127.0.0.1, the keys have restrictive modes, a second run keeps every
#     file;
#   - deploy/vault-init.sh under busybox sh, as root with CAP_CHOWN only,
#     against a stub of the vault CLI (tests/doubles/vault_cli_stub.py, not
#     Vault): first run, second run, run after a restart (sealed), and a
#     policy that allows exactly the transit paths that kms/kms_vault.c
#     calls;
#   - s3seal with the Vault provider over TLS: the Vault transit test double
#     behind nginx as TLS terminator with the certificate of
#     compose-certs.sh; /readyz answers 200 with S3SEAL_VAULT_CA_FILE set to
#     its CA, and s3seal refuses to start without it;
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

# py_checks LABEL ARGS...: runs "$PY ARGS...", a script that prints one
# "ok: NAME" or "FAILED: NAME: WHY" line per check, and counts each line as
# a check. Other output is shown indented. A script that ends with an error
# but printed no FAILED line counts as one failed check named LABEL.
py_checks() {
    local label=$1 line out rc
    shift
    out=$("$PY" "$@" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
        "ok: "*) pass "${line#ok: }" ;;
        "FAILED: "*) flunk "${line#FAILED: }" ;;
        "") ;;
        *) printf '    %s\n' "$line" ;;
        esac
    done <<<"$out"
    if ((rc != 0)) && ! grep -q '^FAILED: ' <<<"$out"; then
        flunk "$label: the Python check stopped with exit status $rc"
    fi
}

# Checks the Compose file's services against the wiring its header
# describes, and the Vault configuration it mounts. python3-yaml and pyhcl
# read both files (Vault's configuration language is HCL 1, which pyhcl
# parses), so no container engine and no Vault binary are needed.
check_compose_wiring() {
    if ! "$PY" -c 'import yaml, hcl' 2>/dev/null; then
        skip "Compose wiring and vault-server.hcl: $PY cannot import yaml and hcl (Debian packages python3-yaml python3-pyhcl)"
        return
    fi
    py_checks "Compose wiring" - "$DEPLOY" <<'EOF'
import os, re, sys
import hcl, yaml

deploy = sys.argv[1]
compose_text = open(os.path.join(deploy, "docker-compose.yml")).read()
svc = yaml.safe_load(compose_text)["services"]
conf = hcl.loads(open(os.path.join(deploy, "vault-server.hcl")).read())
certs_script = open(os.path.join(deploy, "compose-certs.sh")).read()
failed = False

def check(name, cond, why):
    global failed
    if cond:
        print(f"ok: {name}")
    else:
        failed = True
        print(f"FAILED: {name}: {why}")

def mounts(name):
    """{target: (source, read_only)} of a service's volumes."""
    out = {}
    for v in svc[name].get("volumes", []):
        parts = v.split(":")
        out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out

def is_named_volume(source):
    return not source.startswith((".", "/", "~"))

env = {name: svc[name].get("environment", {}) for name in svc}
listener = conf.get("listener", {}).get("tcp", {})
storage = conf.get("storage", {}).get("file", {})

check("vault-server.hcl parses as HCL with a file storage and a TCP listener",
      bool(storage) and bool(listener), f"got {sorted(conf)}")
check("vault-server.hcl: TLS listener on 0.0.0.0:8200 (tls_disable unset)",
      listener.get("address") == "0.0.0.0:8200" and not listener.get("tls_disable")
      and listener.get("tls_cert_file") and listener.get("tls_key_file"), f"listener {listener}")
check("vault-server.hcl: api_addr https://vault:8200 and the UI off",
      conf.get("api_addr") == "https://vault:8200" and conf.get("ui") is False,
      f"api_addr {conf.get('api_addr')!r}, ui {conf.get('ui')!r}")
check("vault-server.hcl: disable_mlock set, since the vault service has no IPC_LOCK, or IPC_LOCK added",
      (conf.get("disable_mlock") is True) != ("IPC_LOCK" in svc.get("vault", {}).get("cap_add", [])),
      f"disable_mlock {conf.get('disable_mlock')!r}, cap_add {svc.get('vault', {}).get('cap_add')}")

check("Compose: services minio, vault, vault-init and s3seal, and no key file job",
      set(svc) == {"minio", "vault", "vault-init", "s3seal"}, f"services {sorted(svc)}")
vault, init, s3seal = svc["vault"], svc["vault-init"], svc["s3seal"]
vm, im, sm = mounts("vault"), mounts("vault-init"), mounts("s3seal")
check("Compose: vault runs a pinned hashicorp/vault release",
      re.fullmatch(r"hashicorp/vault:\d+\.\d+\.\d+", vault.get("image", "")) is not None, f"image {vault.get('image')}")
check("Compose: vault runs 'vault server -config=' with deploy/vault-server.hcl mounted read-only, not -dev",
      vault.get("command") == ["vault", "server", "-config=/vault/config/vault-server.hcl"]
      and vm.get("/vault/config/vault-server.hcl") == ("./vault-server.hcl", True),
      f"command {vault.get('command')}, mount {vm.get('/vault/config/vault-server.hcl')}")
check("Compose: vault publishes no port", "ports" not in vault, f"ports {vault.get('ports')}")
src = vm.get(storage.get("path"), ("", False))[0]
check("Compose: Vault's storage path is a named volume", is_named_volume(src) and src != "",
      f"{storage.get('path')} is mounted from {src!r}")
check("Compose: the TLS files of vault-server.hcl are mounted read-only from deploy/compose-certs",
      vm.get(listener.get("tls_cert_file")) == ("./compose-certs/vault.pem", True)
      and vm.get(listener.get("tls_key_file")) == ("./compose-certs/vault.key", True),
      f"cert {vm.get(listener.get('tls_cert_file'))}, key {vm.get(listener.get('tls_key_file'))}")
uid = re.search(r"VAULT_UID=\$\{VAULT_UID:-(\d+)\}", certs_script)
gid = re.search(r"VAULT_GID=\$\{VAULT_GID:-(\d+)\}", certs_script)
check("Compose: vault runs as the uid:gid that compose-certs.sh gives vault.key",
      uid is not None and gid is not None and vault.get("user") == f"{uid.group(1)}:{gid.group(1)}",
      f"user {vault.get('user')!r}, compose-certs.sh {uid and uid.group(1)}:{gid and gid.group(1)}")
check("Compose: vault drops every capability, with no-new-privileges",
      vault.get("cap_drop") == ["ALL"] and "no-new-privileges:true" in vault.get("security_opt", []),
      f"cap_drop {vault.get('cap_drop')}, security_opt {vault.get('security_opt')}")

check("Compose: vault-init runs deploy/vault-init.sh (read-only) with /bin/sh in vault's image, once",
      init.get("image") == vault.get("image") and init.get("entrypoint") == ["/bin/sh", "/vault-init.sh"]
      and im.get("/vault-init.sh") == ("./vault-init.sh", True) and init.get("restart") == "no",
      f"image {init.get('image')}, entrypoint {init.get('entrypoint')}, restart {init.get('restart')!r}")
check("Compose: vault-init keeps CHOWN only of the capabilities, with no-new-privileges",
      init.get("cap_drop") == ["ALL"] and init.get("cap_add", []) == ["CHOWN"]
      and "no-new-privileges:true" in init.get("security_opt", []),
      f"cap_drop {init.get('cap_drop')}, cap_add {init.get('cap_add')}")
init_volume = im.get(env["vault-init"].get("INIT_DIR"), ("", False))[0]
others = [n for n in svc if n != "vault-init" and any(s == init_volume for s, _ in mounts(n).values())]
check("Compose: only vault-init mounts the volume with the unseal key and root token",
      is_named_volume(init_volume) and init_volume != "" and not others,
      f"INIT_DIR volume {init_volume!r}, also mounted by {others}")
check("Compose: vault-init checks Vault's TLS against the CA of compose-certs.sh",
      env["vault-init"].get("VAULT_ADDR") == "https://vault:8200"
      and im.get(env["vault-init"].get("VAULT_CACERT")) == ("./compose-certs/ca.pem", True),
      f"VAULT_ADDR {env['vault-init'].get('VAULT_ADDR')}, CA mount {im.get(env['vault-init'].get('VAULT_CACERT'))}")

check("Compose: s3seal starts only after vault-init completed successfully",
      s3seal.get("depends_on", {}).get("vault-init", {}).get("condition") == "service_completed_successfully",
      f"depends_on {s3seal.get('depends_on')}")
e = env["s3seal"]
check("Compose: s3seal selects the Vault provider at https://vault:8200",
      e.get("S3SEAL_KMS_PROVIDER") == "vault" and e.get("S3SEAL_VAULT_ADDR") == "https://vault:8200",
      f"S3SEAL_KMS_PROVIDER {e.get('S3SEAL_KMS_PROVIDER')!r}, S3SEAL_VAULT_ADDR {e.get('S3SEAL_VAULT_ADDR')!r}")
check("Compose: s3seal uses the transit key that vault-init creates",
      e.get("S3SEAL_VAULT_KEY_NAME") == env["vault-init"].get("TRANSIT_KEY")
      and e.get("S3SEAL_VAULT_MOUNT", "transit") == env["vault-init"].get("TRANSIT_MOUNT"),
      f"{e.get('S3SEAL_VAULT_KEY_NAME')!r} vs {env['vault-init'].get('TRANSIT_KEY')!r}")
check("Compose: s3seal logs in with AppRole and the role ID that vault-init sets, no token",
      e.get("S3SEAL_VAULT_ROLE_ID") == env["vault-init"].get("S3SEAL_VAULT_ROLE_ID")
      and "${S3SEAL_VAULT_ROLE_ID" in str(e.get("S3SEAL_VAULT_ROLE_ID"))
      and not any(k.startswith("S3SEAL_VAULT_TOKEN") or k == "S3SEAL_VAULT_SECRET_ID" for k in e),
      f"S3SEAL_VAULT_ROLE_ID {e.get('S3SEAL_VAULT_ROLE_ID')!r}")
check("Compose: s3seal's S3SEAL_VAULT_CA_FILE is the CA of compose-certs.sh, mounted read-only",
      sm.get(e.get("S3SEAL_VAULT_CA_FILE")) == ("./compose-certs/ca.pem", True),
      f"{e.get('S3SEAL_VAULT_CA_FILE')} is mounted from {sm.get(e.get('S3SEAL_VAULT_CA_FILE'))}")
secret_file = e.get("S3SEAL_VAULT_SECRET_ID_FILE", "")
secret_volume, secret_ro = sm.get(os.path.dirname(secret_file), ("", False))
approle_dir = env["vault-init"].get("APPROLE_DIR")
check("Compose: s3seal reads the secret ID that vault-init writes, from a read-only volume",
      os.path.basename(secret_file) == "secret-id" and secret_ro and is_named_volume(secret_volume)
      and im.get(approle_dir) == (secret_volume, False),
      f"S3SEAL_VAULT_SECRET_ID_FILE {secret_file!r} on {secret_volume!r} (ro {secret_ro}); "
      f"vault-init writes {approle_dir!r} on {im.get(approle_dir)}")
check("Compose: s3seal has no key file (S3SEAL_KEY_FILE empty, which unsets the image's default)",
      e.get("S3SEAL_KEY_FILE") == "" and not any(t.startswith("/var/lib/s3seal") and t != os.path.dirname(secret_file)
                                                  for t in sm),
      f"S3SEAL_KEY_FILE {e.get('S3SEAL_KEY_FILE')!r}, mounts {sorted(sm)}")
check("Compose: s3seal keeps read_only, cap_drop ALL, no-new-privileges and the /readyz health check",
      s3seal.get("read_only") is True and s3seal.get("cap_drop") == ["ALL"]
      and "no-new-privileges:true" in s3seal.get("security_opt", [])
      and "/readyz" in s3seal.get("healthcheck", {}).get("test", []),
      "see the s3seal service")
example = open(os.path.join(deploy, "compose.env.example")).read()
defined = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose_text))
check("Compose: compose.env.example sets every variable the Compose file requires",
      required <= defined, f"missing {sorted(required - defined)}")
sys.exit(1 if failed else 0)
EOF
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

# deploy/vault-init.sh under busybox sh, as in the vault image, against
# tests/doubles/vault_cli_stub.py: a stub of the vault CLI (not Vault) that
# fails on any subcommand, flag or path the script should not use, and on
# any secret on a command line.
check_vault_init() {
    local dir=$WORK/vault-init applet stub_state sum_before
    if ! command -v busybox >/dev/null; then
        skip "vault-init.sh: busybox is not installed (Debian package busybox; the vault image's shell)"
        return
    fi
    if ((EUID != 0)) || ! command -v setpriv >/dev/null; then
        skip "vault-init.sh: this check must run as root with setpriv (util-linux), to run the script as the Compose file does"
        return
    fi
    if ! "$PY" -c 'import hcl' 2>/dev/null; then
        skip "vault-init.sh: $PY cannot import hcl (Debian package python3-pyhcl), to read the policy"
        return
    fi
    mkdir -p "$dir/bin" "$dir/init" "$dir/approle"
    # The commands the script runs, from busybox only, like the image's.
    for applet in sh sed grep tr mktemp cp chmod chown mv cat head sleep; do
        ln -s "$(command -v busybox)" "$dir/bin/$applet"
    done
    printf '#!%s\nexec %s %s "$@"\n' "$(command -v busybox) sh" "$PY" "$REPO_ROOT/tests/doubles/vault_cli_stub.py" \
        >"$dir/bin/vault"
    chmod 0755 "$dir/bin/vault"
    : >"$dir/ca.pem"
    stub_state=$dir/state.json

    # As the vault-init service runs it: root with CAP_CHOWN alone (cap_drop
    # ALL, cap_add CHOWN) and no-new-privileges, so no file mode is
    # overridden.
    vault_init_run() {
        setpriv --bounding-set=-all,+chown --no-new-privs \
            env -i PATH="$dir/bin" VAULT_STUB_STATE="$stub_state" VAULT_STUB_DOWN="${1:-0}" \
            VAULT_ADDR=https://vault:8200 VAULT_CACERT="$dir/ca.pem" S3SEAL_VAULT_ROLE_ID=check-role-id \
            INIT_DIR="$dir/init" APPROLE_DIR="$dir/approle" VAULT_WAIT_S=10 \
            "$dir/bin/sh" "$DEPLOY/vault-init.sh" >"$dir/run.log" 2>&1
    }
    if vault_init_run 2; then
        pass "vault-init.sh, first run (Vault answers from its third call on): exit 0"
    else
        flunk "vault-init.sh, first run (Vault answers from its third call on): exit 0"
        sed 's/^/    /' "$dir/run.log"
        return
    fi
    # The state after the first run, and the policy against kms/kms_vault.c.
    py_checks "vault-init.sh first run" - "$stub_state" "$dir" "$REPO_ROOT/kms/kms_vault.c" <<'EOF'
import json, os, re, sys
import hcl

state = json.load(open(sys.argv[1]))
d = sys.argv[2]
source = open(sys.argv[3]).read()
failed = False

def check(name, cond, why):
    global failed
    if cond:
        print(f"ok: vault-init.sh: {name}")
    else:
        failed = True
        print(f"FAILED: vault-init.sh: {name}: {why}")

def owner_mode(path):
    st = os.stat(path)
    return f"{st.st_uid}:{st.st_gid} {st.st_mode & 0o7777:04o}"

check("Vault initialized with 1 key share and unsealed",
      state["initialized"] and not state["sealed"] and "operator init -key-shares -key-threshold -format" in state["calls"],
      f"initialized {state['initialized']}, sealed {state['sealed']}")
init = os.path.join(d, "init")
check("the unseal key and the root token are in INIT_DIR, root's, mode 0600",
      open(os.path.join(init, "unseal-key")).read() == state["unseal_key"]
      and open(os.path.join(init, "root-token")).read() == state["root_token"]
      and {owner_mode(os.path.join(init, f)) for f in os.listdir(init)} == {"0:0 0600"},
      f"{[(f, owner_mode(os.path.join(init, f))) for f in sorted(os.listdir(init))]}")
check("transit enabled and the key 'transit/keys/s3seal' created as aes256-gcm96",
      state["mounts"].get("transit/", {}).get("type") == "transit"
      and state["keys"] == {"transit/keys/s3seal": "aes256-gcm96"}, f"mounts {state['mounts']}, keys {state['keys']}")
# The paths s3seal calls: transit_request(&call, VAULT_OP_..., "<verb>", ...) in kms/kms_vault.c;
# a GET (VAULT_OP_READ_KEY) needs read, the POSTs need update.
calls = re.findall(r'transit_request\(&call, VAULT_OP_(\w+), "([^"]+)"', source)
want = {f"transit/{verb}/s3seal": {"capabilities": ["read" if op == "READ_KEY" else "update"]}
        for op, verb in calls}
policy = hcl.loads(state["policies"].get("s3seal", "")).get("path", {})
check("the policy 's3seal' allows exactly the transit paths of kms/kms_vault.c "
      f"({', '.join(sorted(want))})", calls and policy == want and set(state["policies"]) == {"s3seal"},
      f"policy {policy}, expected {want}")
role = state["roles"].get("s3seal", {})
check("AppRole role 's3seal': policy s3seal only (no default), fixed role ID, secret IDs without expiry",
      "approle/" in state["auths"] and role.get("token_policies") == "s3seal"
      and role.get("token_no_default_policy") == "true" and role.get("secret_id_ttl") == "0"
      and role.get("secret_id_num_uses") == "0" and state["role_ids"].get("s3seal") == "check-role-id",
      f"role {role}, role ID {state['role_ids']}")
target = os.path.join(d, "approle", "secret-id")
ids = state["secret_ids"].get("s3seal", [])
check("the secret ID is in APPROLE_DIR/secret-id, uid 10001, mode 0400",
      len(ids) == 1 and open(target).read() == ids[0] and owner_mode(target) == "10001:10001 0400"
      and os.listdir(os.path.join(d, "approle")) == ["secret-id"],
      f"{owner_mode(target)}, {len(ids)} secret IDs, folder {os.listdir(os.path.join(d, 'approle'))}")
sys.exit(1 if failed else 0)
EOF

    sum_before=$(stat -c '%i %a %u' "$dir/approle/secret-id" && sha256sum "$dir/approle/secret-id" "$dir/init/init.json")
    if vault_init_run && grep -q 'keeping the secret ID' "$dir/run.log" &&
        [[ $(stat -c '%i %a %u' "$dir/approle/secret-id" && sha256sum "$dir/approle/secret-id" "$dir/init/init.json") == "$sum_before" ]] &&
        [[ $("$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); print(len(s["secret_ids"]["s3seal"]), s["calls"].count("operator init -key-shares -key-threshold -format"))' "$stub_state") == "1 1" ]]; then
        pass "vault-init.sh, second run: exit 0, no second init, the same secret ID file"
    else
        flunk "vault-init.sh, second run: exit 0, no second init, the same secret ID file"
        sed 's/^/    /' "$dir/run.log"
    fi

    # A restart of Vault: sealed again.
    "$PY" -c 'import json, sys; p = sys.argv[1]; s = json.load(open(p)); s["sealed"] = True; json.dump(s, open(p, "w"))' "$stub_state"
    if vault_init_run && grep -q 'unsealed Vault' "$dir/run.log" &&
        "$PY" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["sealed"])' "$stub_state" &&
        [[ $(stat -c '%i %a %u' "$dir/approle/secret-id" && sha256sum "$dir/approle/secret-id" "$dir/init/init.json") == "$sum_before" ]]; then
        pass "vault-init.sh after a restart of Vault: unseals it (key on stdin) and keeps the secret ID"
    else
        flunk "vault-init.sh after a restart of Vault: unseals it (key on stdin) and keeps the secret ID"
        sed 's/^/    /' "$dir/run.log"
    fi

    # The secret ID was destroyed in Vault: a new one replaces it.
    "$PY" -c 'import json, sys; p = sys.argv[1]; s = json.load(open(p)); s["secret_ids"]["s3seal"] = []; json.dump(s, open(p, "w"))' "$stub_state"
    sum_before=$(sha256sum "$dir/approle/secret-id")
    if vault_init_run && [[ $(sha256sum "$dir/approle/secret-id") != "$sum_before" ]] &&
        [[ $(stat -c '%a %u:%g' "$dir/approle/secret-id") == "400 10001:10001" ]] &&
        "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(open(sys.argv[2]).read() not in s["secret_ids"]["s3seal"])' \
            "$stub_state" "$dir/approle/secret-id"; then
        pass "vault-init.sh: a secret ID that Vault no longer knows is replaced (uid 10001, mode 0400)"
    else
        flunk "vault-init.sh: a secret ID that Vault no longer knows is replaced (uid 10001, mode 0400)"
        sed 's/^/    /' "$dir/run.log"
    fi

    # Vault's storage gone but the record of the old init kept: no new init over it.
    rm "$stub_state"
    sum_before=$(sha256sum "$dir/init/init.json")
    if ! vault_init_run && grep -q 'holds the unseal key of an earlier Vault' "$dir/run.log" &&
        [[ $(sha256sum "$dir/init/init.json") == "$sum_before" ]]; then
        pass "vault-init.sh: refuses to initialize a new Vault over the unseal key of an earlier one"
    else
        flunk "vault-init.sh: refuses to initialize a new Vault over the unseal key of an earlier one"
        sed 's/^/    /' "$dir/run.log"
    fi
}

# login_and_encrypt_over_tls ACCESS_LOG: nginx logged an AppRole login and a
# transit encrypt, both over TLS 1.2 or 1.3 and with status 200.
login_and_encrypt_over_tls() {
    grep -q '^TLSv1\.[23] POST /v1/auth/approle/login 200' "$1" &&
        grep -q '^TLSv1\.[23] POST /v1/transit/encrypt/s3seal 200' "$1"
}

# s3seal's Vault provider over real TLS: the Vault transit test double
# (tests/doubles/vault_transit_double.py, a stand-in for Vault) behind nginx
# as TLS terminator with the certificate and CA of compose-certs.sh, and a
# backend that responds to HTTP, so that /readyz depends on the KMS alone.
check_vault_tls() {
    local certs=$WORK/certs dir=$WORK/vault-tls double_port tls_port backend_port pid
    local nginx=${NGINX_BIN:-/usr/sbin/nginx} role_id=check-role secret_id=check-secret-id
    if [[ ! -x $S3SEAL_BIN ]]; then
        skip "Vault over TLS: $S3SEAL_BIN not built"
        return
    fi
    if [[ ! -x $nginx ]]; then
        skip "Vault over TLS: $nginx not found (Debian package nginx, or set NGINX_BIN)"
        return
    fi
    if [[ ! -s $certs/vault.pem ]]; then
        flunk "Vault over TLS: no certificate from compose-certs.sh in $certs"
        return
    fi
    mkdir -p "$dir/nginx/tmp" "$dir/www"
    double_port=$(free_port)
    "$PY" "$REPO_ROOT/tests/doubles/vault_transit_double.py" --port "$double_port" --root-token check-root \
        --role-id "$role_id" --secret-id "$secret_id" --token-ttl 60 >"$dir/double.log" 2>&1 &
    PIDS+=($!)
    backend_port=$(free_port)
    "$PY" -m http.server "$backend_port" --bind 127.0.0.1 --directory "$dir/www" >"$dir/backend.log" 2>&1 &
    PIDS+=($!)
    if ! wait_for_port "$double_port" || ! wait_for_port "$backend_port"; then
        flunk "Vault over TLS: the transit double or the backend stub did not start"
        cat "$dir/double.log" "$dir/backend.log" | sed 's/^/    /'
        return
    fi
    # The transit key, as vault-init.sh creates it.
    if ! "$PY" - "$double_port" <<'EOF' >"$dir/seed.log" 2>&1; then
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/transit/keys/s3seal", data=b'{"type": "aes256-gcm96"}',
                             headers={"X-Vault-Token": "check-root", "Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, timeout=5).read()
EOF
        flunk "Vault over TLS: cannot create the transit key on the double"
        sed 's/^/    /' "$dir/seed.log"
        return
    fi
    # nginx in the foreground without a master process, so $! is the PID to stop.
    tls_port=$(free_port)
    cat >"$dir/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log info;
events {
    worker_connections 64;
}
http {
    log_format tls '\$ssl_protocol \$request_method \$request_uri \$status';
    access_log $dir/nginx/access.log tls;
    client_body_temp_path $dir/nginx/tmp/body;
    proxy_temp_path $dir/nginx/tmp/proxy;
    fastcgi_temp_path $dir/nginx/tmp/fastcgi;
    uwsgi_temp_path $dir/nginx/tmp/uwsgi;
    scgi_temp_path $dir/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$tls_port ssl;
        ssl_certificate $certs/vault.pem;
        ssl_certificate_key $certs/vault.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://127.0.0.1:$double_port;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    "$nginx" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" >"$dir/nginx/stdout.log" 2>&1 &
    PIDS+=($!)
    if ! wait_for_port "$tls_port"; then
        flunk "Vault over TLS: nginx did not listen on 127.0.0.1:$tls_port"
        cat "$dir/nginx/stdout.log" "$dir/nginx/error.log" 2>/dev/null | tail -n 5 | sed 's/^/    /'
        return
    fi
    (umask 077 && printf '%s\n' "$secret_id" >"$dir/secret-id")

    # vault_s3seal NAME ADDR [CA_FILE]: starts s3seal with the Vault provider
    # at ADDR; sets VAULT_S3SEAL_ADMIN and VAULT_S3SEAL_PID.
    vault_s3seal() {
        local name=$1 addr=$2 ca=${3:-}
        VAULT_S3SEAL_ADMIN=$(free_port)
        env -u S3SEAL_KEY_FILE -u S3SEAL_CONFIG S3SEAL_LISTEN="127.0.0.1:$(free_port)" \
            S3SEAL_ADMIN_LISTEN="127.0.0.1:$VAULT_S3SEAL_ADMIN" S3SEAL_BACKEND_URL="http://127.0.0.1:$backend_port" \
            S3SEAL_BACKEND_ACCESS_KEY_ID=CHECKBACKEND S3SEAL_BACKEND_SECRET_ACCESS_KEY=check-backend-secret \
            S3SEAL_ACCESS_KEY_ID=CHECKCLIENT S3SEAL_SECRET_ACCESS_KEY=check-client-secret S3SEAL_WORKERS=1 \
            S3SEAL_KMS_PROVIDER=vault S3SEAL_VAULT_ADDR="$addr" S3SEAL_VAULT_KEY_NAME=s3seal \
            S3SEAL_VAULT_ROLE_ID="$role_id" S3SEAL_VAULT_SECRET_ID_FILE="$dir/secret-id" \
            S3SEAL_VAULT_CA_FILE="$ca" S3SEAL_VAULT_TIMEOUT_MS=3000 \
            "$S3SEAL_BIN" serve 2>"$dir/s3seal-$name.log" &
        VAULT_S3SEAL_PID=$!
        PIDS+=("$VAULT_S3SEAL_PID")
    }

    vault_s3seal localhost "https://localhost:$tls_port" "$certs/ca.pem"
    if wait_for_port "$VAULT_S3SEAL_ADMIN"; then
        S3SEAL_ADMIN_LISTEN=127.0.0.1:$VAULT_S3SEAL_ADMIN expect_health \
            "/readyz of s3seal with the Vault provider at https://localhost (TLS by nginx, S3SEAL_VAULT_CA_FILE set)" 0 /readyz
    else
        flunk "Vault over TLS: s3seal with S3SEAL_VAULT_CA_FILE did not open its admin listener"
        tail -n 5 "$dir/s3seal-localhost.log" | sed 's/^/    /'
    fi
    run_check "Vault over TLS: s3seal loaded the Vault provider at https://localhost with AppRole" \
        grep -q "loaded Vault transit provider addr=https://localhost:$tls_port .*auth=approle" "$dir/s3seal-localhost.log"
    run_check "Vault over TLS: the AppRole login and the transit calls went through nginx over TLS" \
        login_and_encrypt_over_tls "$dir/nginx/access.log"

    # The same at https://127.0.0.1, the name the vault service's health check uses.
    vault_s3seal ip "https://127.0.0.1:$tls_port" "$certs/ca.pem"
    if wait_for_port "$VAULT_S3SEAL_ADMIN"; then
        S3SEAL_ADMIN_LISTEN=127.0.0.1:$VAULT_S3SEAL_ADMIN expect_health \
            "/readyz of s3seal with the Vault provider at https://127.0.0.1 (the IP subjectAltName)" 0 /readyz
    else
        flunk "Vault over TLS: s3seal at https://127.0.0.1 did not open its admin listener"
        tail -n 5 "$dir/s3seal-ip.log" | sed 's/^/    /'
    fi

    # Without the CA file, s3seal checks against the system store and must
    # refuse to start.
    vault_s3seal no-ca "https://localhost:$tls_port"
    pid=$VAULT_S3SEAL_PID
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        flunk "Vault over TLS: s3seal without S3SEAL_VAULT_CA_FILE refuses to start (it still runs after 15 s)"
    elif wait "$pid"; then
        flunk "Vault over TLS: s3seal without S3SEAL_VAULT_CA_FILE refuses to start (it exited 0)"
    elif grep -qi 'certificate' "$dir/s3seal-no-ca.log"; then
        pass "Vault over TLS: s3seal without S3SEAL_VAULT_CA_FILE refuses to start, naming the certificate"
    else
        flunk "Vault over TLS: s3seal without S3SEAL_VAULT_CA_FILE refuses to start, naming the certificate"
        tail -n 5 "$dir/s3seal-no-ca.log" | sed 's/^/    /'
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
    # The key is made by the image's own keygen, as uid 10001. (The Compose
    # file uses Vault instead; this round trip checks the image alone.)
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
        MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" EXPECT_KMS=file \
        bash "$DEPLOY/roundtrip.sh"
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
check_compose_wiring
check_compose_certs
check_vault_init
check_healthcheck_double
check_healthcheck_s3seal
check_vault_tls
if ((WITH_IMAGE)); then
    check_image
fi
printf '%d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
((failed == 0))
