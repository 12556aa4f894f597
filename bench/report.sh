#!/usr/bin/env bash
# exhibit report benchmark: `exhibit report` on a synthetic case of a million messages (and
# 50 000 contacts, 200 000 calls, 200 000 files), against peers that read the same input once
# (`cat` to /dev/null, and Python parsing every line as JSON). Wall time, peak RSS, output size;
# then the big report opened once in headless Chromium (informational). See bench/README.md.
#
#   bash bench/report.sh                                 # RUNS=3, WORK on /dev/shm if it has room
#   MESSAGES=100000 FILES=20000 bash bench/report.sh     # smaller and quicker
#   CHROMIUM=0 bash bench/report.sh                      # skip the browser
#
# Settings (environment): RUNS MESSAGES THREADS CONTACTS CALLS FILES SEED WORK CHROMIUM
# CHROMIUM_TIMEOUT. Progress goes to stderr; the summary to stdout and $WORK/summary-<time>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
MESSAGES=${MESSAGES:-1000000}
THREADS=${THREADS:-2000}
CONTACTS=${CONTACTS:-50000}
CALLS=${CALLS:-200000}
FILES=${FILES:-200000}
SEED=${SEED:-1}
CHROMIUM=${CHROMIUM:-1}
CHROMIUM_TIMEOUT=${CHROMIUM_TIMEOUT:-900}

case ${1:-} in
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    "") ;;
    *)
        echo "report.sh: unknown argument '$1' (settings are environment variables)" >&2
        exit 64
        ;;
esac

say() { printf '[report-bench] %s\n' "$*" >&2; }
die() {
    printf 'report.sh: %s\n' "$*" >&2
    exit 1
}

for n in RUNS MESSAGES THREADS CONTACTS CALLS FILES SEED CHROMIUM_TIMEOUT; do
    [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a number, not '${!n}'"
done
((RUNS >= 1)) || die "RUNS must be at least 1"

# --- tools -------------------------------------------------------------------------------------
need=()
command -v python3 >/dev/null || need+=(python3)
[[ -x /usr/bin/time ]] || need+=(time) # GNU time: peak RSS through %M
if ((${#need[@]})); then
    if ((EUID == 0)) && command -v apt-get >/dev/null; then
        say "installing ${need[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
    else
        die "missing tools: ${need[*]} (install them, or run as root on Debian/Ubuntu)"
    fi
fi

# --- work folder -------------------------------------------------------------------------------
# About 1.3 GB for the default case and its report; tmpfs when it has room, so the numbers are
# the tools' own cost and not the disk's.
NEEDED=$((3 * 1024 * 1024 * 1024))
if [[ -z ${WORK:-} ]]; then
    WORK=/tmp/exhibit-report-bench
    if [[ -d /dev/shm ]] && (($(df -B1 --output=avail /dev/shm | tail -n1 | tr -d ' ') > NEEDED)); then
        WORK=/dev/shm/exhibit-report-bench
    fi
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
FSTYPE=$(df -T "$WORK" | awk 'NR == 2 {print $2}')
say "WORK=$WORK ($FSTYPE, $(($(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ') / 1048576)) MiB free)"

# --- build -------------------------------------------------------------------------------------
# `exhibit report` needs no plugin: only the binary and the case generator are built.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
EXHIBIT=$TARGET/release/exhibit
BIGCASE=$TARGET/release/exhibit-bench-bigcase
say "building: cargo build --release -p exhibit -p exhibit-bench-bigcase"
(cd "$ROOT" && cargo build --release -p exhibit -p exhibit-bench-bigcase) >&2 || die "the build failed"

# --- the case ----------------------------------------------------------------------------------
GEN=$(cat "$ROOT"/bench/bigcase/src/main.rs "$ROOT"/bench/bigcase/Cargo.toml | sha256sum | cut -c1-16)
KEY="messages=$MESSAGES threads=$THREADS contacts=$CONTACTS calls=$CALLS files=$FILES seed=$SEED gen=$GEN"
CASE=$WORK/case
if [[ -f $WORK/case.key && $(cat "$WORK/case.key") == "$KEY" && -f $CASE/custody.jsonl ]]; then
    say "reusing the case in $CASE ($KEY)"
else
    rm -rf "$CASE" "$WORK/case.key"
    say "generating the case: $KEY"
    "$BIGCASE" --out "$CASE" --messages "$MESSAGES" --threads "$THREADS" --contacts "$CONTACTS" \
        --calls "$CALLS" --files "$FILES" --seed "$SEED" >&2
    echo "$KEY" >"$WORK/case.key"
fi
INPUTS=("$CASE/custody.jsonl" "$CASE"/artifacts/*.jsonl)
INPUT_BYTES=$(cat "${INPUTS[@]}" | wc -c)
RECORDS=$((MESSAGES + CONTACTS + CALLS))
say "input: $((INPUT_BYTES / 1048576)) MiB in ${#INPUTS[@]} files, $RECORDS records, $FILES files logged"

# The peer: what any report made from these files must do at least, read and parse each line once.
cat >"$WORK/parse.py" <<'EOF'
import json, sys
n = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        for line in f:
            json.loads(line)
            n += 1
print(n)
EOF

# --- measuring ---------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TSV=$WORK/results-$STAMP.tsv
printf 'run\tname\tseconds\tpeak_rss_kib\n' >"$TSV"
REPORT=$WORK/report.html

# measure RUN NAME COMMAND...: wall seconds (ns clock) and peak RSS (GNU time %M), stdout
# discarded. A failure stops the script: every row must be a complete run.
measure() {
    local run=$1 name=$2
    shift 2
    sync
    local t0 t1 status=0
    t0=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/stderr.out" || status=$?
    t1=$(date +%s%N)
    if ((status != 0)); then
        say "!!! FAILED (exit $status): $name: $*"
        head -n 20 "$WORK/stderr.out" >&2
        exit 1
    fi
    local rss secs
    rss=$(tail -n1 "$WORK/time.out")
    secs=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e9}')
    printf '%s\t%s\t%s\t%s\n' "$run" "$name" "$secs" "$rss" >>"$TSV"
    say "$(printf 'run %s  %-28s %8ss  %6s MiB' "$run" "$name" "$secs" $((rss / 1024)))"
}

say "measuring: $RUNS run(s), warm page cache; the peers and exhibit alternate, order flipped each run"
for ((r = 1; r <= RUNS; r++)); do
    rm -f "$REPORT"
    if ((r % 2)); then
        measure "$r" "cat (read floor)" cat "${INPUTS[@]}"
        measure "$r" "python3 json.loads" python3 "$WORK/parse.py" "${INPUTS[@]}"
        measure "$r" "exhibit report" "$EXHIBIT" report "$CASE" --out "$REPORT"
    else
        measure "$r" "exhibit report" "$EXHIBIT" report "$CASE" --out "$REPORT"
        measure "$r" "python3 json.loads" python3 "$WORK/parse.py" "${INPUTS[@]}"
        measure "$r" "cat (read floor)" cat "${INPUTS[@]}"
    fi
done
rm -f "$WORK/time.out" "$WORK/stderr.out"
REPORT_BYTES=$(stat -c %s "$REPORT")

# The report says the counts it was made from; they must be the case's.
shown() { grep -o "id=\"count-$1\"[^<]*<" "$REPORT" | head -n1 | sed 's/.*>//; s/<$//; s/[^0-9]//g'; }
for kind in messages contacts calls files; do
    var=${kind^^}
    want=${!var}
    [[ $(shown "$kind") == "$want" ]] || say "!!! #count-$kind shows '$(shown "$kind")', the case has $want"
done

# --- the big report in a browser (informational) -----------------------------------------------
BROWSER="not run (CHROMIUM=0)"
if ((CHROMIUM)); then
    if ! command -v chromium >/dev/null; then
        BROWSER="not run: no chromium on PATH"
    else
        profile=$(mktemp -d "$WORK/chromium-XXXXXX")
        say "opening the report in headless Chromium (up to ${CHROMIUM_TIMEOUT}s)"
        t0=$(date +%s%N)
        status=0
        # coreutils timeout signals its whole process group: Chromium's helpers end with it.
        HOME=$profile /usr/bin/time -f '%M' -o "$WORK/chromium.time" \
            timeout --kill-after=10 "$CHROMIUM_TIMEOUT" chromium --headless --no-sandbox \
            --disable-gpu --disable-quic --no-first-run --disable-background-networking \
            --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$profile/profile" \
            --virtual-time-budget=30000 --dump-dom "file://$REPORT" \
            >"$WORK/dom.html" 2>"$WORK/chromium.err" || status=$?
        t1=$(date +%s%N)
        secs=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')
        rss=$(tail -n1 "$WORK/chromium.time")
        [[ $rss =~ ^[0-9]+$ ]] || rss=0
        ready=no
        grep -q '<html[^>]* data-ready="1"' "$WORK/dom.html" && ready=yes
        errors=$(grep -c ':CONSOLE' "$WORK/chromium.err" || true)
        BROWSER="exit $status after ${secs}s (wall, incl. start-up; 30 s of virtual time), ready: $ready, console lines: $errors, DOM $(($(stat -c %s "$WORK/dom.html") / 1048576)) MiB, largest process $((rss / 1024)) MiB"
        ((status == 124)) && BROWSER="$BROWSER (timed out)"
        say "chromium: $BROWSER"
        rm -rf "$profile" "$WORK/chromium.time"
    fi
fi

# --- summary -----------------------------------------------------------------------------------
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
SUMMARY=$WORK/summary-$STAMP.md
python3 - "$TSV" "$RUNS" "$CPU" "$(nproc)" "$FSTYPE" "$KEY" "$INPUT_BYTES" "$REPORT_BYTES" "$BROWSER" >"$SUMMARY" <<'EOF'
import csv, statistics, sys
tsv, runs, cpu, cores, fstype, key, input_bytes, report_bytes, browser = sys.argv[1:]
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
names = list(dict.fromkeys(r["name"] for r in rows))
secs = {n: [float(r["seconds"]) for r in rows if r["name"] == n] for n in names}
rss = {n: [int(r["peak_rss_kib"]) for r in rows if r["name"] == n] for n in names}
med = {n: statistics.median(v) for n, v in secs.items()}
mib = lambda b: int(b) / 1048576
print(f"# exhibit report benchmark\n")
print(f"- machine: {cpu}, {cores} cores; WORK on {fstype}")
print(f"- case: {key}")
print(f"- input read: {mib(input_bytes):.0f} MiB (custody.jsonl + artifacts/*.jsonl)")
print(f"- report: {mib(report_bytes):.0f} MiB ({int(report_bytes)} bytes)\n")
print(f"| command | median s ({runs} runs) | min s | max s | peak RSS MiB (max) |")
print("|---|---:|---:|---:|---:|")
for n in names:
    print(f"| {n} | {med[n]:.2f} | {min(secs[n]):.2f} | {max(secs[n]):.2f} | {max(rss[n]) / 1024:.0f} |")
print()
e = med["exhibit report"]
print(f"- exhibit report / python3 json.loads: {e / med['python3 json.loads']:.2f}x (ratio of medians)")
print(f"- exhibit report / cat: {e / med['cat (read floor)']:.1f}x")
print(f"- headless Chromium on the report: {browser}")
EOF
cat "$SUMMARY"
say "summary: $SUMMARY; raw: $TSV"
