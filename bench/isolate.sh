#!/usr/bin/env bash
# Cost of plugin isolation: the same `exhibit extract` with every plugin in process
# (`--no-isolate`), with the default (each artifact decoder in a child process of its own), and
# with everything isolated (`--isolate`: the format plugin's evidence reads, writes and custody
# notes all cross a socket to the parent). Alternating the three, medians of RUNS.
#
#   bash bench/isolate.sh                      # SIZE=512M RUNS=5 WORK=/dev/shm/exhibit-isolate-bench
#   WORK=/tmp/exhibit-isolate-bench bash bench/isolate.sh
#
# Two dumps: dumpgen's tar (SIZE of files: the streaming cost) and the committed Android FFS
# tar (a few KiB of files and five decoder runs: the per-process cost). Raw runs in
# $WORK/isolate-results.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
SIZE=${SIZE:-512M}
RUNS=${RUNS:-5}
WORK=${WORK:-/dev/shm/exhibit-isolate-bench}

[[ -x /usr/bin/time ]] || { say "GNU time (/usr/bin/time) is needed for peak RSS"; exit 1; }
build_release
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

KEY="size=$SIZE gen=$(sha256sum <"$ROOT/bench/dumpgen/src/main.rs" | cut -c1-16)"
if ! [[ -f $WORK/gen/ffs.tar && -f $WORK/gen/key && $(cat "$WORK/gen/key") == "$KEY" ]]; then
    say "generating a $SIZE tar"
    rm -rf "$WORK/gen"
    "$DUMPGEN" --size "$SIZE" --out "$WORK/gen" --formats tar >&2
    echo "$KEY" >"$WORK/gen/key"
fi
declare -A DUMPS=([large]=$WORK/gen/ffs.tar [android]=$ROOT/fixtures/data/android-ffs.tar)

RESULTS=$WORK/isolate-results.tsv
printf 'variant\tcommand\trun\tseconds\tpeak_rss_kib\n' >"$RESULTS"
modes=(in-process default isolated)
for run in $(seq 1 "$RUNS"); do
    for variant in large android; do
        # Rotate the starting mode so none always meets a warm or cold cache.
        for i in 0 1 2; do
            mode=${modes[$(((i + run) % 3))]}
            flag=()
            [[ $mode == in-process ]] && flag=(--no-isolate)
            [[ $mode == isolated ]] && flag=(--isolate)
            rm -rf "$WORK/case"
            measure "$variant" "exhibit" "$run" -- \
                "$EXHIBIT" extract "${DUMPS[$variant]}" --case "$WORK/case" \
                --plugins "$TARGET/release" -q "${flag[@]}"
            sed -i "\$s/^\\([^\t]*\\)\texhibit\t/\\1\t$mode\t/" "$RESULTS"
        done
    done
done
rm -rf "$WORK/case"

python3 - "$RESULTS" "$WORK" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"isolation benchmark, work folder {sys.argv[2]}; medians of {len(rows) // 6} runs")
print()
print("| dump | in process s | decoders isolated (default) s | all isolated s | default / in process | all / in process | peak RSS MiB in process / all |")
print("|---|---|---|---|---|---|---|")
for variant, label in (("large", "dumpgen tar"), ("android", "Android FFS fixture")):
    def med(mode, key="seconds"):
        return statistics.median(float(r[key]) for r in rows if r["variant"] == variant and r["command"] == mode)
    a, d, i = med("in-process"), med("default"), med("isolated")
    print(f"| {label} | {a:.3f} | {d:.3f} | {i:.3f} | {d / a:.2f} | {i / a:.2f} | "
          f"{med('in-process', 'peak_rss_kib') / 1024:.0f} / {med('isolated', 'peak_rss_kib') / 1024:.0f} |")
PY
