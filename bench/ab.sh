#!/usr/bin/env bash
# exhibit .ab benchmark: `exhibit extract` of a compressed and of an encrypted adb backup, every
# file hashed, against the reference unpacker (bench/ab_reference.py: Python's zlib and the
# `cryptography` package streaming the same backup into `tar -x`), alternating the two commands.
#
#   bash bench/ab.sh                                  # SIZE=256M RUNS=5 WORK=/tmp/exhibit-ab-bench
#   SIZE=512M RUNS=5 WORK=/dev/shm/exhibit-ab-bench bash bench/ab.sh
#
# Prints a Markdown table (median seconds, median peak RSS) and the ratio of the medians
# exhibit / reference for each backup. Raw runs: $WORK/ab-results.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
SIZE=${SIZE:-256M}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/exhibit-ab-bench}
PASSWORD=${PASSWORD:-bench-pässwörd}

[[ -x /usr/bin/time ]] || { say "GNU time (/usr/bin/time) is needed for peak RSS"; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || {
    say "installing the Python cryptography package for the reference"
    python3 -m pip install -q cryptography >&2
}

build_release
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

KEY="size=$SIZE gen=$(cat "$ROOT"/bench/dumpgen/src/main.rs "$ROOT"/fixtures/src/adb.rs | sha256sum | cut -c1-16)"
for variant in plain encrypted; do
    dir=$WORK/$variant
    if [[ -f $dir/ffs.ab && -f $dir/key && $(cat "$dir/key") == "$KEY" ]]; then
        continue
    fi
    say "generating the $variant backup ($SIZE of files)"
    rm -rf "$dir"
    pw=()
    [[ $variant == encrypted ]] && pw=(--ab-password "$PASSWORD")
    "$DUMPGEN" --size "$SIZE" --out "$dir" --formats ab "${pw[@]}" >&2
    echo "$KEY" >"$dir/key"
done

RESULTS=$WORK/ab-results.tsv
printf 'variant\tcommand\trun\tseconds\tpeak_rss_kib\n' >"$RESULTS"

for run in $(seq 1 "$RUNS"); do
    for variant in plain encrypted; do
        ab=$WORK/$variant/ffs.ab
        pw=()
        [[ $variant == encrypted ]] && pw=("$PASSWORD")
        # Alternate which command goes first, so neither always meets a warm or cold cache.
        order=(exhibit reference)
        ((run % 2 == 0)) && order=(reference exhibit)
        for command in "${order[@]}"; do
            rm -rf "$WORK/case" "$WORK/out"
            if [[ $command == exhibit ]]; then
                args=("$EXHIBIT" extract "$ab" --case "$WORK/case" --plugins "$TARGET/release" -q)
                ((${#pw[@]})) && args+=(--password "${pw[0]}")
                measure "$variant" exhibit "$run" -- "${args[@]}"
            else
                mkdir -p "$WORK/out"
                measure "$variant" reference "$run" -- bash -c \
                    'python3 "$1" "$2" ${3:+"$3"} | tar -x -C "$4"' _ \
                    "$ROOT/bench/ab_reference.py" "$ab" "${pw[0]:-}" "$WORK/out"
            fi
        done
    done
done
rm -rf "$WORK/case" "$WORK/out"

python3 - "$RESULTS" "$WORK" <<'PY'
import csv, os, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
work = sys.argv[2]
print(f"adb backup benchmark, {len(rows) // 4} runs each, alternating; work folder {work}")
print()
print("| backup | size MiB | exhibit s | reference s | ratio exhibit/reference | exhibit peak RSS MiB | reference peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
labels = {"plain": "compressed", "encrypted": "compressed + AES-256"}
for variant in ("plain", "encrypted"):
    def med(cmd, key):
        return statistics.median(float(r[key]) for r in rows if r["variant"] == variant and r["command"] == cmd)
    size = os.path.getsize(os.path.join(work, variant, "ffs.ab")) / 2**20
    ex, ref = med("exhibit", "seconds"), med("reference", "seconds")
    print(f"| {labels[variant]} | {size:.0f} | {ex:.2f} | {ref:.2f} | {ex / ref:.2f} | "
          f"{med('exhibit', 'peak_rss_kib') / 1024:.0f} | {med('reference', 'peak_rss_kib') / 1024:.0f} |")
PY
