#!/bin/bash
# Asks s3seal's admin listener for a health path and passes only on
# "200": the container health check of deploy/Dockerfile, and an exec probe
# where an HTTP probe cannot reach the listener. It needs nothing but bash,
# so it runs in the slim image, which has no curl.
#
# Usage: s3seal-healthcheck [PATH] [HOST:PORT]
#   PATH       /readyz (default): 200 while the backend and the key provider
#              respond.
#              /healthz: the process runs; for liveness.
#   HOST:PORT  the admin listener; default S3SEAL_ADMIN_LISTEN. A wildcard
#              address (0.0.0.0, ::) is checked on the loopback address.
#
# Exits 0 on 200. Exits 1 on any other status, on no response within 4 s,
# or when no admin listener is configured. The reason goes to stderr, the
# status line to stdout.
set -u

path=${1:-/readyz}
address=${2:-${S3SEAL_ADMIN_LISTEN:-}}

if [[ $path != /* ]]; then
    echo "s3seal-healthcheck: '$path' is not a path; give /readyz or /healthz" >&2
    exit 1
fi
if [[ -z $address ]]; then
    echo "s3seal-healthcheck: S3SEAL_ADMIN_LISTEN is not set; set it (for example to 127.0.0.1:9090)" \
        "so that s3seal serves $path, or give HOST:PORT as the second argument" >&2
    exit 1
fi

port=${address##*:}
host=${address%:*}
host=${host#[}
host=${host%]}
case $host in
'' | 0.0.0.0) host=127.0.0.1 ;;
::) host=::1 ;;
esac
if [[ ! $port =~ ^[0-9]+$ ]]; then
    echo "s3seal-healthcheck: no port in '$address'; give HOST:PORT, such as 127.0.0.1:9090" >&2
    exit 1
fi

# Sends one GET and prints the status line and the first line of the body.
# It runs under timeout in a child bash, which gets it through export -f.
# shellcheck disable=SC2317 # called through "bash -c" below
probe() {
    local status line body=""

    exec 3<>"/dev/tcp/$1/$2" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$3" "$1" >&3
    IFS= read -r status <&3 || return 1
    while IFS= read -r line <&3; do
        if [[ $line == $'\r' || -z $line ]]; then
            break
        fi
    done
    IFS= read -r body <&3
    printf '%s\n%s' "${status%$'\r'}" "${body%$'\r'}"
}
export -f probe

# /readyz waits up to 3 s for the backend and the KMS, hence 4 s.
answer=$(timeout 4 bash -c 'probe "$@"' _ "$host" "$port" "$path" 2>/dev/null)
status_line=${answer%%$'\n'*}
body=${answer#*$'\n'}

if [[ $status_line =~ ^HTTP/1\.[01]\ 200 ]]; then
    echo "s3seal-healthcheck: $host port $port $path: $status_line"
    exit 0
fi
if [[ -z $status_line ]]; then
    echo "s3seal-healthcheck: no HTTP answer from $host port $port for $path (refused, or none within 4 s)" \
        "(is S3SEAL_ADMIN_LISTEN set to that address?)" >&2
    exit 1
fi
echo "s3seal-healthcheck: $host port $port $path: $status_line${body:+: $body}" >&2
exit 1
