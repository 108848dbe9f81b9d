#!/usr/bin/env bash
# Starts a one-node Ceph cluster (one mon, one OSD, no mgr, auth "none") and a
# radosgw S3 endpoint, all on 127.0.0.1, for tests.
#
# Settings (environment variables, all optional):
#   RGW_DIR          folder for config, data, logs and PID files (/tmp/s3seal-rgw)
#   RGW_PORT         radosgw S3 port (19000)
#   MON_PORT         monitor port, msgr2 only (19010)
#   OSD_PORT_MIN/MAX port range for the OSD's four listeners (19020-19039)
#   OBJECTSTORE      memstore (object data in the OSD's RAM) or bluestore (on a
#                    sparse file in RGW_DIR) (memstore)
#   RGW_STORE_BYTES  memstore capacity, or the bluestore file size, in bytes (4 GiB)
#   RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_REGION  credentials and region of the test user
#   RGW_READY_TIMEOUT seconds to wait for each stage (90)
#
# On success it writes $RGW_DIR/s3.env with S3_ENDPOINT, S3_ACCESS_KEY,
# S3_SECRET_KEY and S3_REGION and prints the same lines on stdout. Progress and
# timings go to stderr. Stop the cluster with stop-rgw.sh and the same RGW_DIR.
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/s3seal-rgw}
RGW_PORT=${RGW_PORT:-19000}
MON_PORT=${MON_PORT:-19010}
OSD_PORT_MIN=${OSD_PORT_MIN:-19020}
OSD_PORT_MAX=${OSD_PORT_MAX:-19039}
OBJECTSTORE=${OBJECTSTORE:-memstore}
RGW_STORE_BYTES=${RGW_STORE_BYTES:-4294967296}
RGW_ACCESS_KEY=${RGW_ACCESS_KEY:-S3SEALBACKEND0000001}
RGW_SECRET_KEY=${RGW_SECRET_KEY:-s3sealbackendsecret000000000000000000001}
RGW_REGION=${RGW_REGION:-us-east-1}
RGW_READY_TIMEOUT=${RGW_READY_TIMEOUT:-90}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARKER_FILE=.s3seal-rgw
EMPTY_BODY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

stage="setup"
started_daemons=0

# Copy of stderr for on_exit: a trap runs inside the redirections of the
# command that was running when the signal came.
exec {STDERR_FD}>&2

log() {
    printf 'start-rgw: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# Prints microseconds since the epoch.
now_us() {
    local t=$EPOCHREALTIME
    printf '%s' "${t/./}"
}

elapsed_s() {
    local start_us=$1 end_us
    end_us=$(now_us)
    printf '%d.%02d' $(((end_us - start_us) / 1000000)) $((((end_us - start_us) / 10000) % 100))
}

on_exit() {
    local rc=$?
    exec 2>&"$STDERR_FD"
    if ((rc != 0)); then
        log "failed during stage '$stage' (exit code $rc)"
        if [[ $stage != setup ]]; then
            if ((started_daemons)); then
                log "stopping the daemons this run started; data and logs are kept"
                KEEP_DATA=1 RGW_DIR=$RGW_DIR "$SCRIPT_DIR/stop-rgw.sh" >&2 || true
            fi
            log "logs: $RGW_DIR/log/ (setup commands: setup.log, radosgw: client.rgw.test.log, OSD: osd.0.log, mon: mon.a.log)"
        fi
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_command() {
    command -v "$1" >/dev/null 2>&1 || die "command '$1' not found; install $2"
}

require_integer() {
    [[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"
}

# Returns 0 if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Returns 0 if PID file $1 names a live process whose command name is $2.
pid_file_alive() {
    local pid_file=$1 comm=$2 pid
    [[ -f $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$comm" ]]
}

check_inputs() {
    require_integer RGW_PORT "$RGW_PORT"
    require_integer MON_PORT "$MON_PORT"
    require_integer OSD_PORT_MIN "$OSD_PORT_MIN"
    require_integer OSD_PORT_MAX "$OSD_PORT_MAX"
    require_integer RGW_STORE_BYTES "$RGW_STORE_BYTES"
    require_integer RGW_READY_TIMEOUT "$RGW_READY_TIMEOUT"
    ((OSD_PORT_MAX - OSD_PORT_MIN >= 3)) ||
        die "OSD_PORT_MIN..OSD_PORT_MAX must span at least 4 ports, got $OSD_PORT_MIN..$OSD_PORT_MAX"
    [[ $RGW_DIR == /* ]] || die "RGW_DIR must be an absolute path, got '$RGW_DIR'"
    case $OBJECTSTORE in
        memstore | bluestore) ;;
        *) die "OBJECTSTORE must be memstore or bluestore, got '$OBJECTSTORE'" ;;
    esac

    require_command ceph-mon "the Debian package ceph-mon"
    require_command ceph-osd "the Debian package ceph-osd"
    require_command radosgw "the Debian package radosgw"
    require_command radosgw-admin "the Debian package radosgw"
    require_command ceph "the Debian package ceph-common"
    require_command monmaptool "the Debian package ceph-common"
    require_command curl "the Debian package curl"
}

# Fails if RGW_DIR contains files this script did not make, or daemons of an
# earlier run that still run. Otherwise removes an earlier run's folder.
remove_earlier_run() {
    [[ -d $RGW_DIR ]] || return 0
    if [[ ! -f $RGW_DIR/$MARKER_FILE ]]; then
        if [[ -n $(ls -A "$RGW_DIR") ]]; then
            die "RGW_DIR $RGW_DIR exists, is not empty and was not created by start-rgw.sh; set RGW_DIR to another folder"
        fi
        return 0
    fi
    if pid_file_alive "$RGW_DIR/run/client.rgw.test.pid" radosgw ||
        pid_file_alive "$RGW_DIR/run/osd.0.pid" ceph-osd ||
        pid_file_alive "$RGW_DIR/run/mon.a.pid" ceph-mon; then
        die "daemons of an earlier run in $RGW_DIR are still running; stop them with: RGW_DIR=$RGW_DIR $SCRIPT_DIR/stop-rgw.sh"
    fi
    log "removing data of an earlier run in $RGW_DIR"
    rm -rf -- "$RGW_DIR"
}

make_dirs() {
    mkdir -p "$RGW_DIR"
    touch "$RGW_DIR/$MARKER_FILE"
    mkdir -p "$RGW_DIR/run" "$RGW_DIR/log" "$RGW_DIR/mon" "$RGW_DIR/osd" "$RGW_DIR/rgw" "$RGW_DIR/crash"
}

check_ports() {
    local port free_osd_ports=0
    for port in "$RGW_PORT" "$MON_PORT"; do
        if port_in_use "$port"; then
            die "port 127.0.0.1:$port is already in use; set RGW_PORT or MON_PORT to a free port"
        fi
    done
    for ((port = OSD_PORT_MIN; port <= OSD_PORT_MAX; port++)); do
        if ! port_in_use "$port"; then
            free_osd_ports=$((free_osd_ports + 1))
        fi
    done
    ((free_osd_ports >= 4)) ||
        die "fewer than 4 free ports in OSD_PORT_MIN..OSD_PORT_MAX ($OSD_PORT_MIN..$OSD_PORT_MAX)"
}

write_config() {
    local fsid=$1 store_lines
    if [[ $OBJECTSTORE == memstore ]]; then
        store_lines="osd objectstore = memstore
memstore device bytes = $RGW_STORE_BYTES"
    else
        # The block file must not be $osd_data/block: bluestore makes that a
        # symlink to the block path, and mkfs then fails with ELOOP.
        store_lines="osd objectstore = bluestore
bluestore block path = $RGW_DIR/osd-block.img
bluestore block create = true
bluestore block size = $RGW_STORE_BYTES"
    fi

    # \$name, \$cluster and \$id are expanded by Ceph, not by the shell.
    cat >"$RGW_DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
# Daemons default to "secure" mode for monitor connections, which auth "none"
# cannot provide; without "crc" radosgw never connects to the monitor.
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = $RGW_DIR/run
pid file = $RGW_DIR/run/\$name.pid
admin socket = $RGW_DIR/run/\$name.asok
log file = $RGW_DIR/log/\$name.log
mon cluster log file = $RGW_DIR/log/cluster.log
crash dir = $RGW_DIR/crash
mon data = $RGW_DIR/mon
osd data = $RGW_DIR/osd
rgw data = $RGW_DIR/rgw
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail crit = 0
# The default of 1 s makes the first pool creations take about 10 s longer.
paxos propose interval = 0.1
$store_lines

[client.rgw.test]
# Without tcp_nodelay every keep-alive GET of a small object stalls about 44 ms.
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw thread pool size = 64
rgw run sync thread = false
# Empty: path-style addressing only.
rgw dns name =
CONF
}

# Runs "$@" with a time limit of RGW_READY_TIMEOUT seconds, sending its output
# to log file $1.
run_logged() {
    local log_file=$1
    shift
    if ! timeout "$RGW_READY_TIMEOUT" "$@" >>"$log_file" 2>&1; then
        die "command failed or timed out after ${RGW_READY_TIMEOUT}s: $*; see $log_file"
    fi
}

start_mon() {
    local fsid=$1 setup_log=$RGW_DIR/log/setup.log
    run_logged "$setup_log" monmaptool --create --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$MON_PORT]" "$RGW_DIR/monmap"
    run_logged "$setup_log" ceph-mon -c "$RGW_DIR/ceph.conf" --mkfs -i a --monmap "$RGW_DIR/monmap"
    started_daemons=1
    run_logged "$setup_log" ceph-mon -c "$RGW_DIR/ceph.conf" -i a
}

start_osd() {
    local uuid osd_id setup_log=$RGW_DIR/log/setup.log
    uuid=$(</proc/sys/kernel/random/uuid)
    if ! osd_id=$(timeout "$RGW_READY_TIMEOUT" ceph -c "$RGW_DIR/ceph.conf" osd new "$uuid" 2>>"$setup_log"); then
        die "'ceph osd new' failed or timed out after ${RGW_READY_TIMEOUT}s; is the monitor up? see $setup_log and $RGW_DIR/log/mon.a.log"
    fi
    [[ $osd_id == 0 ]] || die "'ceph osd new' returned OSD id '$osd_id', expected 0"
    run_logged "$setup_log" ceph-osd -c "$RGW_DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid"
    run_logged "$setup_log" ceph-osd -c "$RGW_DIR/ceph.conf" -i 0
}

# Creates the S3 user. radosgw-admin also creates the zone pools, so it has to
# run before radosgw and after the OSD is up.
create_user() {
    run_logged "$RGW_DIR/log/setup.log" radosgw-admin -c "$RGW_DIR/ceph.conf" user create \
        --uid=test --display-name="s3seal test user" \
        --access-key="$RGW_ACCESS_KEY" --secret-key="$RGW_SECRET_KEY"
}

start_radosgw() {
    run_logged "$RGW_DIR/log/setup.log" radosgw -c "$RGW_DIR/ceph.conf" -n client.rgw.test
}

# Tells whether radosgw has gone: its PID file names a process that no longer
# exists. A PID file that is missing or still empty means radosgw is still
# detaching, which is not a failure; the readiness deadline covers that case.
radosgw_exited() {
    local pid_file=$1 pid
    [[ -s $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ ! -d /proc/$pid ]]
}

# Waits until a SigV4-signed ListBuckets with the test user's keys returns 200.
# This shows that radosgw serves requests and authenticates that user, which an
# anonymous request would not show.
wait_ready() {
    local deadline status
    deadline=$(($(now_us) + RGW_READY_TIMEOUT * 1000000))
    while true; do
        status=$(curl --silent --output /dev/null --write-out '%{http_code}' \
            --noproxy '*' --max-time 5 \
            --aws-sigv4 "aws:amz:$RGW_REGION:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
            --header "x-amz-content-sha256: $EMPTY_BODY_SHA256" \
            "http://127.0.0.1:$RGW_PORT/" 2>/dev/null) || true
        [[ $status == 200 ]] && return 0
        if radosgw_exited "$RGW_DIR/run/client.rgw.test.pid"; then
            die "radosgw exited during startup; see $RGW_DIR/log/client.rgw.test.log"
        fi
        if (($(now_us) > deadline)); then
            die "radosgw did not answer a signed ListBuckets with 200 within ${RGW_READY_TIMEOUT}s (last HTTP status: ${status:-none}); see $RGW_DIR/log/client.rgw.test.log"
        fi
        sleep 0.1
    done
}

write_env_file() {
    cat >"$RGW_DIR/s3.env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_ACCESS_KEY=$RGW_ACCESS_KEY
S3_SECRET_KEY=$RGW_SECRET_KEY
S3_REGION=$RGW_REGION
ENV
    cat "$RGW_DIR/s3.env"
}

main() {
    local t_start t_stage fsid
    t_start=$(now_us)

    check_inputs
    remove_earlier_run
    check_ports
    make_dirs
    fsid=$(</proc/sys/kernel/random/uuid)
    write_config "$fsid"

    stage="mon"
    t_stage=$(now_us)
    start_mon "$fsid"
    log "mon started on 127.0.0.1:$MON_PORT in $(elapsed_s "$t_stage") s"

    stage="osd"
    t_stage=$(now_us)
    start_osd
    log "OSD ($OBJECTSTORE) started in $(elapsed_s "$t_stage") s"

    stage="user create"
    t_stage=$(now_us)
    create_user
    log "S3 user created in $(elapsed_s "$t_stage") s"

    stage="radosgw"
    t_stage=$(now_us)
    start_radosgw
    wait_ready
    log "radosgw ready on http://127.0.0.1:$RGW_PORT in $(elapsed_s "$t_stage") s"

    stage="env file"
    write_env_file
    log "ready in $(elapsed_s "$t_start") s total; env file: $RGW_DIR/s3.env"
}

main "$@"
