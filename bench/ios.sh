#!/usr/bin/env bash
# exhibit iTunes-backup benchmark: `exhibit extract` of a plain and of an encrypted iTunes/Finder
# backup folder (iOS 10+ layout, dumpgen `--formats ios`), every file hashed and the decoders
# on, against the reference restorer (bench/ios_reference.py: what mvt's and iOSbackup's
# decrypt step does, Python's sqlite3 and the `cryptography` package, no hashing), alternating
# the two commands.
#
#   bash bench/ios.sh                                 # SIZE=1200M RUNS=3 WORK=/tmp/exhibit-ios-bench
#   WORK=/dev/shm/exhibit-ios-bench RUNS=3 bash bench/ios.sh
#
# The default SIZE makes each backup a little over 1 GiB. The encrypted backup's keybag uses
# 10 + 10 PBKDF2 rounds (the fixture's), not iTunes' 10,000,000 + 10,000: that derivation costs
# a few seconds once per backup in both tools and is not what this measures.
#
# Prints a Markdown table (median seconds, median peak RSS, backup size) and the ratio of the
# medians exhibit / reference for each backup. Raw runs: $WORK/ios-results.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
SIZE=${SIZE:-1200M}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/exhibit-ios-bench}
PASSWORD=${PASSWORD:-bench-pässwörd}

[[ -x /usr/bin/time ]] || { say "GNU time (/usr/bin/time) is needed for peak RSS"; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || {
    say "installing the Python cryptography package for the reference"
    python3 -m pip install -q cryptography >&2
}

build_release
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
UDID=00008030-001A2B3C4D5E6F70 # exhibit_fixtures::IOS_UDID

KEY="size=$SIZE gen=$(cat "$ROOT"/bench/dumpgen/src/main.rs "$ROOT"/fixtures/src/ios.rs \
    "$ROOT"/fixtures/src/ios_sqlite.rs | sha256sum | cut -c1-16)"
for variant in plain encrypted; do
    dir=$WORK/$variant
    if [[ -f $dir/ios/$UDID/Manifest.db && -f $dir/key && $(cat "$dir/key") == "$KEY" ]]; then
        continue
    fi
    say "generating the $variant backup ($SIZE of files)"
    rm -rf "$dir"
    pw=()
    [[ $variant == encrypted ]] && pw=(--ios-password "$PASSWORD")
    "$DUMPGEN" --size "$SIZE" --out "$dir" --formats ios "${pw[@]}" >&2
    echo "$KEY" >"$dir/key"
done

RESULTS=$WORK/ios-results.tsv
printf 'variant\tcommand\trun\tseconds\tpeak_rss_kib\n' >"$RESULTS"

for run in $(seq 1 "$RUNS"); do
    for variant in plain encrypted; do
        backup=$WORK/$variant/ios/$UDID
        pw=()
        [[ $variant == encrypted ]] && pw=("$PASSWORD")
        # Alternate which command goes first, so neither always meets a warm or cold cache.
        order=(exhibit reference)
        ((run % 2 == 0)) && order=(reference exhibit)
        for command in "${order[@]}"; do
            rm -rf "$WORK/case" "$WORK/out"
            if [[ $command == exhibit ]]; then
                args=("$EXHIBIT" extract "$backup" --case "$WORK/case" --plugins "$TARGET/release" -q)
                ((${#pw[@]})) && args+=(--password "${pw[0]}")
                measure "$variant" exhibit "$run" -- "${args[@]}"
            else
                mkdir -p "$WORK/out"
                measure "$variant" reference "$run" -- \
                    python3 "$ROOT/bench/ios_reference.py" "$backup" "$WORK/out" "${pw[@]}"
            fi
        done
    done
done
rm -rf "$WORK/case" "$WORK/out"

python3 - "$RESULTS" "$WORK" "$UDID" <<'PY'
import csv, os, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
work, udid = sys.argv[2], sys.argv[3]
print(f"iTunes backup benchmark, {len(rows) // 4} runs each, alternating; work folder {work}")
print()
print("| backup | size MiB | files | exhibit s | reference s | ratio exhibit/reference | exhibit peak RSS MiB | reference peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|")
labels = {"plain": "plain", "encrypted": "encrypted (AES-256-CBC)"}
for variant in ("plain", "encrypted"):
    def med(cmd, key):
        return statistics.median(float(r[key]) for r in rows if r["variant"] == variant and r["command"] == cmd)
    size, files = 0, 0
    for base, _, names in os.walk(os.path.join(work, variant, "ios", udid)):
        for name in names:
            size += os.path.getsize(os.path.join(base, name))
            files += 1
    ex, ref = med("exhibit", "seconds"), med("reference", "seconds")
    print(f"| {labels[variant]} | {size / 2**20:.0f} | {files} | {ex:.2f} | {ref:.2f} | {ex / ref:.2f} | "
          f"{med('exhibit', 'peak_rss_kib') / 1024:.0f} | {med('reference', 'peak_rss_kib') / 1024:.0f} |")
PY
