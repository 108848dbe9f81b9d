#!/bin/bash
# Checks that s3seal responds on its listen address, for container health
# checks and Kubernetes exec probes. s3seal has no health endpoint yet, so
# this sends an unsigned "GET /" and accepts any HTTP status line. s3seal
# responds with 403 AccessDenied without contacting the backend. A
# healthy result therefore tells nothing about the backend or the KMS.
#
# With TLS on the listener (S3SEAL_TLS_CERT_FILE set) it only opens a TCP
# connection, because bash cannot speak TLS.
#
# Usage: s3seal-healthcheck [HOST:PORT]   (default: S3SEAL_LISTEN, then
# 127.0.0.1:8080). A wildcard address is checked on the loopback address.
# Exits 0 when healthy, 1 otherwise.
#
# Each HTTP check adds one "403 AccessDenied ... op=ListBuckets" warn line
# from the probing address to the s3seal log.
set -u

address=${1:-${S3SEAL_LISTEN:-127.0.0.1:8080}}
port=${address##*:}
host=${address%:*}
host=${host#[}
host=${host%]}
case $host in
'' | 0.0.0.0) host=127.0.0.1 ;;
:: ) host=::1 ;;
esac

# The inner scripts get host and port as arguments, so single quotes are
# intended in both.
# shellcheck disable=SC2016
if [[ -n ${S3SEAL_TLS_CERT_FILE:-} ]]; then
    if timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; then
        exit 0
    fi
    echo "s3seal-healthcheck: cannot connect to $host port $port" >&2
    exit 1
fi

# shellcheck disable=SC2016
status_line=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$1" >&3
    IFS= read -r line <&3 && printf "%s" "$line"
' _ "$host" "$port" 2>/dev/null)

if [[ $status_line == HTTP/1.[01]\ [0-9][0-9][0-9]* ]]; then
    echo "s3seal-healthcheck: $host port $port responded: ${status_line%$'\r'}"
    exit 0
fi
echo "s3seal-healthcheck: no HTTP response from $host port $port within 3 s" >&2
exit 1
