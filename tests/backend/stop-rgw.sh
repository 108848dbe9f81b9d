#!/usr/bin/env bash
# Stops the daemons that start-rgw.sh started, using only the PID files in
# $RGW_DIR/run, then removes $RGW_DIR unless KEEP_DATA=1.
#
# Settings: RGW_DIR (/tmp/s3seal-rgw), KEEP_DATA (0), STOP_TIMEOUT seconds to
# wait after SIGTERM before sending SIGKILL (20).
set -euo pipefail

RGW_DIR=${RGW_DIR:-/tmp/s3seal-rgw}
KEEP_DATA=${KEEP_DATA:-0}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
MARKER_FILE=.s3seal-rgw

log() {
    printf 'stop-rgw: %s\n' "$*" >&2
}

# Prints the PID from PID file $1 if that process is alive and its command
# name is $2. A PID that was reused by another program is not printed.
live_pid() {
    local pid_file=$1 comm=$2 pid
    [[ -f $pid_file ]] || return 1
    pid=$(<"$pid_file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$comm" ]] || return 1
    printf '%s' "$pid"
}

# Stops the daemons named by "PID-file command-name" pairs: SIGTERM to all of
# them, then SIGKILL to those still running after STOP_TIMEOUT seconds.
stop_daemons() {
    local pids=() comms=() pid i waited=0 running
    while (($# >= 2)); do
        if pid=$(live_pid "$1" "$2"); then
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && comms+=("$2")
        fi
        shift 2
    done
    ((${#pids[@]} > 0)) || return 0

    while true; do
        running=0
        for pid in "${pids[@]}"; do
            [[ -d /proc/$pid ]] && running=1
        done
        ((running && waited < STOP_TIMEOUT * 10)) || break
        sleep 0.1
        waited=$((waited + 1))
    done

    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        if [[ -d /proc/$pid ]]; then
            log "${comms[$i]} (PID $pid) still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped ${comms[$i]} (PID $pid)"
    done
}

main() {
    [[ $RGW_DIR == /* ]] || { log "error: RGW_DIR must be an absolute path, got '$RGW_DIR'"; exit 1; }
    if [[ ! -d $RGW_DIR ]]; then
        log "nothing to stop: $RGW_DIR does not exist"
        return 0
    fi
    if [[ ! -f $RGW_DIR/$MARKER_FILE ]]; then
        log "error: $RGW_DIR was not created by start-rgw.sh; nothing stopped"
        exit 1
    fi

    # One at a time, in this order: radosgw hung for 20 s when the OSD stopped
    # at the same time, and an OSD stopping with the mon gone waits for it.
    stop_daemons "$RGW_DIR/run/client.rgw.test.pid" radosgw
    stop_daemons "$RGW_DIR/run/osd.0.pid" ceph-osd
    stop_daemons "$RGW_DIR/run/mon.a.pid" ceph-mon

    if [[ $KEEP_DATA == 1 ]]; then
        log "kept $RGW_DIR"
    else
        rm -rf -- "$RGW_DIR"
    fi
}

main "$@"
