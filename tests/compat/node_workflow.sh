# shellcheck shell=bash
# The part of sdk-js-v3.sh and minio-js.sh that is the same for both: the
# test files and the run of a workflow in tests/compat/node. Source after
# tests/compat/lib.sh.

NODE_DIR=$COMPAT_DIR/node
NODE_SIZES=(0 1 71680 6291456)

# Fails unless node and the packages of tests/compat/node are installed.
node_check_packages() {
    command -v node >/dev/null || fail "node not found; install the Debian packages nodejs and npm"
    [[ -d $NODE_DIR/node_modules/@aws-sdk/client-s3 && -d $NODE_DIR/node_modules/@aws-sdk/lib-storage &&
        -d $NODE_DIR/node_modules/minio ]] ||
        fail "node packages missing in $NODE_DIR; run: npm ci --prefix $NODE_DIR"
}

# Prints the version of node package $1 that tests/compat/node has installed.
node_package_version() {
    node -e 'console.log(require(process.argv[1] + "/package.json").version)' \
        "$NODE_DIR/node_modules/$1"
}

# Runs node script $1 of tests/compat/node under label $2 and prefix $3:
# upload, backend check, delete, backend empty check.
node_workflow() {
    local script=$1 label=$2 prefix=$3 data=$WORK_DIR/data size n_objects
    for size in "${NODE_SIZES[@]}"; do
        make_canary_file "$data/size-$size.bin" "$size"
    done
    make_canary_file "$data/multipart.bin" $((20 * MIB))
    # A Buffer and a stream key per small file, and multipart.bin.
    n_objects=$((2 * ${#NODE_SIZES[@]} + 1))

    run_helper "$label: upload" node "$NODE_DIR/$script" upload "$label" "$BUCKET" "$prefix" "$data"
    # minio 8.0.7 (node 20) numbered the parts of this upload from 2 when
    # tested, and the layout check expects part numbers from 1, so it runs
    # for the SDK only. check_sealed still checks minio's object for a valid layout.
    if [[ $script == sdkv3.mjs ]]; then
        check_stored_layout "$label: multipart.bin" "$BUCKET" "$prefix/multipart.bin" "$data/multipart.bin" \
            $((5 * MIB)) $((5 * MIB)) $((5 * MIB)) $((5 * MIB))
    fi
    check_sealed "$label" "$BUCKET" "$prefix/" "$n_objects"
    run_helper "$label: delete" node "$NODE_DIR/$script" delete "$label" "$BUCKET" "$prefix" "$data"
    check_backend_empty "$label" "$BUCKET" "$prefix/"
}
