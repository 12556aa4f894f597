# Shared by bench/ab.sh and bench/ios.sh (sourced, not run): progress output, the release
# build, and one timed, checked run of a command with its peak RSS.
#
# Needs ROOT, WORK and RESULTS set by the caller; sets TARGET, EXHIBIT and DUMPGEN.

say() { printf '[%s] %s\n' "$(basename "$0" .sh)-bench" "$*" >&2; }

build_release() {
    TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
    say "building release binaries"
    (cd "$ROOT" && cargo build --release --workspace -q >&2)
    EXHIBIT=$TARGET/release/exhibit
    DUMPGEN=$TARGET/release/exhibit-bench-dumpgen
}

# measure VARIANT COMMAND RUN -- ARGV...: runs ARGV under GNU time, appends a row to $RESULTS.
measure() {
    local variant=$1 command=$2 run=$3
    shift 4
    local status=0
    /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/stderr.out" || status=$?
    # exhibit may exit 2 by design: dumpgen's databases are SQLite-like filler, which a decoder
    # may report as corrupt. Anything else is a failure.
    if ! [[ $status == 0 || ($status == 2 && $command == exhibit) ]]; then
        say "$command failed with exit code $status:"
        cat "$WORK/stderr.out" >&2
        exit 1
    fi
    head -n1 "$WORK/time.out" | grep -q 'exited with non-zero status' && sed -i 1d "$WORK/time.out"
    local secs rss
    read -r secs rss <"$WORK/time.out"
    printf '%s\t%s\t%s\t%s\t%s\n' "$variant" "$command" "$run" "$secs" "$rss" >>"$RESULTS"
    say "$variant $command run $run: ${secs}s, peak RSS $((rss / 1024)) MiB (exit $status)"
}
