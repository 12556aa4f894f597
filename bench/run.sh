#!/usr/bin/env bash
# exhibit benchmark: exhibit extract/verify against tar -xf, unzip, openssl and hashdeep on a
# synthetic Android full-file-system dump. See bench/README.md.
#
#   bash bench/run.sh                          # SIZE=2G RUNS=3 WORK=/tmp/exhibit-bench
#   SIZE=512M RUNS=5 WORK=/dev/shm/exhibit-bench bash bench/run.sh
#   bash bench/run.sh --rss-scale              # also peak RSS of exhibit extract at 4x SIZE
#
# Progress goes to stderr; the summary (machine, table, ratios, targets) to stdout and to
# $WORK/summary-<time>.md. Raw measurements: $WORK/results-<time>.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${SIZE:-2G}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
WORK=${WORK:-/tmp/exhibit-bench}
RSS_SCALE=${RSS_SCALE:-0}

for arg in "$@"; do
    case $arg in
        --rss-scale) RSS_SCALE=1 ;;
        -h | --help)
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown argument '$arg' (settings are environment variables: SIZE RUNS SEED WORK RSS_SCALE)" >&2
            exit 64
            ;;
    esac
done

say() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf 'run.sh: %s\n' "$*" >&2
    exit 1
}

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
((RUNS >= 3)) || say "warning: RUNS=$RUNS; the targets are meant for the median of at least 3 runs"

# --- tools -------------------------------------------------------------------------------------
need=()
command -v hashdeep >/dev/null || need+=(hashdeep)
command -v unzip >/dev/null || need+=(unzip)
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v numfmt >/dev/null || need+=(coreutils)
command -v tar >/dev/null || need+=(tar)
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

BYTES=$(numfmt --from=iec "${SIZE%iB}") || die "SIZE must look like 2G or 512M, not '$SIZE'"
((BYTES >= 1048576)) || die "SIZE must be at least 1M"
mib() { echo $(($1 / 1048576)); }

# --- work folder and free space ----------------------------------------------------------------
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
KEY="size=$BYTES seed=$SEED gen=$(cat "$ROOT"/bench/dumpgen/src/main.rs "$ROOT"/bench/dumpgen/Cargo.toml | sha256sum | cut -c1-16)"
cached_bytes() { # $1 = folder, $2 = key: bytes of an up-to-date cached dump there, else 0
    if [[ -f $1/ffs.key && $(cat "$1/ffs.key") == "$2" && -f $1/ffs.tar && -f $1/ffs.zip ]]; then
        # Shell arithmetic: awk prints sums over 2^31 as floats (or caps them).
        echo $(($(stat -c %s "$1/ffs.tar") + $(stat -c %s "$1/ffs.zip")))
    else
        echo 0
    fi
}
FSTYPE=$(df -T "$WORK" | awk 'NR == 2 {print $2}')
avail=$(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ')
have=$(cached_bytes "$WORK" "$KEY")
needed=$((4 * BYTES - have))
say "WORK=$WORK: filesystem $FSTYPE, $(mib "$avail") MiB free, this run needs about $(mib "$needed") MiB"
((avail >= needed)) || die "not enough free space in $WORK: $(mib "$avail") MiB free, need about $(mib "$needed") MiB (4 x SIZE, less a cached dump)"
if [[ $FSTYPE != tmpfs ]]; then
    say "note: $WORK is on $FSTYPE, not tmpfs: disk timings can vary up to 3x between runs; WORK=/dev/shm/exhibit-bench measures the tools' own cost"
fi

# --- build -------------------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
EXHIBIT=$TARGET/release/exhibit
DUMPGEN=$TARGET/release/exhibit-bench-dumpgen
say "building: cargo build --release --workspace"
(cd "$ROOT" && cargo build --release --workspace) >&2 || die "the build failed"
say "plugins beside $EXHIBIT:"
"$EXHIBIT" plugins >&2 || say "warning: 'exhibit plugins' exited $? (a refused library makes every extract exit 2)"

# --- dumps -------------------------------------------------------------------------------------
make_dump() { # $1 = folder, $2 = bytes, $3 = key
    if (($(cached_bytes "$1" "$3") > 0)); then
        say "reusing the dump in $1 ($3)"
        return
    fi
    say "generating a $(mib "$2") MiB dump in $1 (seed $SEED)"
    mkdir -p "$1"
    rm -f "$1/ffs.key" "$1/ffs.tar" "$1/ffs.zip"
    "$DUMPGEN" --size "$2" --seed "$SEED" --out "$1" >&2
    echo "$3" >"$1/ffs.key"
}
make_dump "$WORK" "$BYTES" "$KEY"
TAR_BYTES=$(stat -c %s "$WORK/ffs.tar")
ZIP_BYTES=$(stat -c %s "$WORK/ffs.zip")
FILES=$(($(wc -l <"$WORK/manifest.tsv") - 1))

# The single-core SHA-256 case: a case holding only the dump's biggest file, so that exhibit
# verify hashes it on one thread, against openssl and the sha2 crate on that same file.
BIG=$(tail -n +2 "$WORK/manifest.tsv" | sort -t$'\t' -k1,1n | tail -n1 | cut -f3-)
BIG_BYTES=$(tail -n +2 "$WORK/manifest.tsv" | sort -t$'\t' -k1,1n | tail -n1 | cut -f1)
rm -rf "$WORK/one" "$WORK/case-one"
mkdir -p "$WORK/one"
tar -xf "$WORK/ffs.tar" -C "$WORK/one" "$BIG"
if "$EXHIBIT" extract "$WORK/one" --case "$WORK/case-one" -q >/dev/null; then
    BIG_CASE_FILE=$(find "$WORK/case-one/files" -type f | head -n1)
else
    say "warning: could not make the one-file case (exhibit extract of a folder exited $?)"
    BIG_CASE_FILE=$WORK/one/$BIG
fi
rm -rf "$WORK/one"

# --- measuring ---------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TSV=$WORK/results-$STAMP.tsv
printf 'run\tname\tseconds\tpeak_rss_kib\texit\n' >"$TSV"
FAILURES=0

# measure RUN NAME COMMAND...: wall seconds (date, ns) and peak RSS (GNU time %M) of COMMAND,
# stdout discarded, stderr kept for the report. A failing command is recorded, not fatal.
measure() {
    local run=$1 name=$2
    shift 2
    rm -f "$WORK/stdout.out"
    sync # finish earlier writes outside the timing; the page cache is NOT dropped
    local t0 t1 status=0
    t0=$(date +%s%N)
    local out=$WORK/stdout.out
    [[ $1 == hashdeep ]] && out=/dev/null # hashdeep's stdout is the hash list, as an examiner discards it
    /usr/bin/time -f '%M' -o "$WORK/time.out" "$@" >"$out" 2>"$WORK/stderr.out" || status=$?
    t1=$(date +%s%N)
    local rss secs
    rss=$(tail -n1 "$WORK/time.out")
    [[ $rss =~ ^[0-9]+$ ]] || rss=0
    secs=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e9}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$secs" "$rss" "$status" >>"$TSV"
    if ((status != 0)); then
        FAILURES=$((FAILURES + 1))
        say "!!! FAILED (exit $status): $name: $*"
        cat "$WORK/stderr.out" "$WORK/stdout.out" 2>/dev/null | head -n 8 | sed 's/^/[bench]     /' >&2
    else
        say "$(printf 'run %s  %-38s %8ss  %6s MiB' "$run" "$name" "$secs" $((rss / 1024)))"
    fi
}

fresh() { rm -rf "$@"; }

say "measuring: $RUNS run(s), warm page cache, outputs removed before each command"
for ((r = 1; r <= RUNS; r++)); do
    fresh "$WORK/unpack-tar" && mkdir "$WORK/unpack-tar"
    measure "$r" "tar -xf" tar -xf "$WORK/ffs.tar" -C "$WORK/unpack-tar"
    measure "$r" "hashdeep sha256 (tar tree)" hashdeep -r -c sha256 "$WORK/unpack-tar"
    measure "$r" "hashdeep md5,sha1,sha256" hashdeep -r -c md5,sha1,sha256 "$WORK/unpack-tar"
    fresh "$WORK/unpack-tar" "$WORK/case-tar"
    measure "$r" "exhibit extract tar" "$EXHIBIT" extract "$WORK/ffs.tar" --case "$WORK/case-tar" -q
    measure "$r" "exhibit verify" "$EXHIBIT" verify "$WORK/case-tar" -q
    fresh "$WORK/case-tar" "$WORK/unpack-zip" && mkdir "$WORK/unpack-zip"
    measure "$r" "unzip -q" unzip -q "$WORK/ffs.zip" -d "$WORK/unpack-zip"
    measure "$r" "hashdeep sha256 (zip tree)" hashdeep -r -c sha256 "$WORK/unpack-zip"
    fresh "$WORK/unpack-zip" "$WORK/case-zip"
    measure "$r" "exhibit extract zip" "$EXHIBIT" extract "$WORK/ffs.zip" --case "$WORK/case-zip" -q
    fresh "$WORK/case-zip"
    measure "$r" "openssl dgst -sha256 ffs.tar" openssl dgst -sha256 "$WORK/ffs.tar"
    fresh "$WORK/case-tar3"
    measure "$r" "exhibit extract --hash md5,sha1,sha256" "$EXHIBIT" extract "$WORK/ffs.tar" --case "$WORK/case-tar3" --hash md5,sha1,sha256 -q
    fresh "$WORK/case-tar3"
    measure "$r" "openssl dgst -sha256 (one file)" openssl dgst -sha256 "$BIG_CASE_FILE"
    measure "$r" "exhibit verify (one file)" "$EXHIBIT" verify "$WORK/case-one" -q
    measure "$r" "sha2 crate (one file)" "$DUMPGEN" --sha256 "$BIG_CASE_FILE"
done

RSS_NOTE=""
if ((RSS_SCALE)); then
    BIG4=$((4 * BYTES))
    KEY4="size=$BIG4 seed=$SEED gen=${KEY##*gen=}"
    avail=$(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ')
    needed=$((3 * BIG4 - $(cached_bytes "$WORK/x4" "$KEY4")))
    if ((avail < needed)); then
        RSS_NOTE="skipped: $(mib "$avail") MiB free in $WORK, the 4x run needs about $(mib "$needed") MiB"
        say "!!! --rss-scale $RSS_NOTE"
    else
        make_dump "$WORK/x4" "$BIG4" "$KEY4"
        fresh "$WORK/case-x4"
        measure 1 "exhibit extract tar (4x size)" "$EXHIBIT" extract "$WORK/x4/ffs.tar" --case "$WORK/case-x4" -q
        fresh "$WORK/case-x4"
        measure 1 "exhibit extract zip (4x size)" "$EXHIBIT" extract "$WORK/x4/ffs.zip" --case "$WORK/case-x4" -q
        fresh "$WORK/case-x4"
    fi
fi
rm -f "$WORK/time.out" "$WORK/stderr.out" "$WORK/stdout.out"

# --- summary -----------------------------------------------------------------------------------
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
if grep -qw sha_ni /proc/cpuinfo; then SHANI=yes; else SHANI=no; fi
MEM=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
SUMMARY=$WORK/summary-$STAMP.md
EXHIBIT_VERSION=$("$EXHIBIT" --version 2>/dev/null | head -n1 || true)
GIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT="$GIT (uncommitted changes)"
export B_BYTES=$BYTES B_BIG_BYTES=$BIG_BYTES B_STAMP=$STAMP B_RSS_NOTE=$RSS_NOTE
export B_MACHINE="$(nproc) cores, $CPU, sha_ni: $SHANI, $MEM RAM, kernel $(uname -r)"
export B_WORK="$WORK ($FSTYPE)"
export B_DUMP="SIZE=$SIZE ($(mib "$BYTES") MiB of contents, $FILES files, seed $SEED); ffs.tar $(mib "$TAR_BYTES") MiB, ffs.zip $(mib "$ZIP_BYTES") MiB; RUNS=$RUNS"
export B_EXHIBIT="${EXHIBIT_VERSION:-?}, git $GIT, $EXHIBIT"
export B_TOOLS="$(tar --version | head -n1); $(unzip -v | head -n1 | cut -d, -f1); $(openssl version); hashdeep $(hashdeep -V)"
python3 - "$TSV" >"$SUMMARY" <<'PY'
import os, statistics, sys
from collections import OrderedDict

rows = OrderedDict()
for line in open(sys.argv[1]).read().splitlines()[1:]:
    run, name, secs, rss, status = line.split("\t")
    rows.setdefault(name, []).append((int(run), float(secs), int(rss), int(status)))

def ok(name):
    got = rows.get(name, [])
    return bool(got) and all(s == 0 for _, _, _, s in got)

def med(name):
    return statistics.median(t for _, t, _, _ in rows[name]) if ok(name) else None

def med_rss(name):
    return statistics.median(m for _, _, m, _ in rows[name]) / 1024 if ok(name) else None

def by_hand(unpack, hash_):
    """Median over runs of (unpack + hashdeep) of the same run."""
    if not (ok(unpack) and ok(hash_)):
        return None
    a = {r: t for r, t, _, _ in rows[unpack]}
    return statistics.median(a[r] + t for r, t, _, _ in rows[hash_] if r in a)

env = os.environ
size = int(env["B_BYTES"])
big = int(env["B_BIG_BYTES"])
print(f"## exhibit benchmark, {env['B_STAMP']}")
print()
print(f"- machine: {env['B_MACHINE']}")
print(f"- WORK: {env['B_WORK']}; page cache warm (not dropped), sync before each command")
print(f"- dump: {env['B_DUMP']}")
print(f"- exhibit: {env['B_EXHIBIT']}")
print(f"- tools: {env['B_TOOLS']}")
print()

def fmt(x, spec):
    return "FAILED" if x is None else format(x, spec)

def note(name):
    got = rows.get(name, [])
    bad = [s for _, _, _, s in got if s != 0]
    return f"FAILED: exit {bad[0]} in {len(bad)}/{len(got)} runs" if bad else ""

print("| command | median s | MB/s | median peak RSS MiB | note |")
print("|---|---:|---:|---:|---|")
one_file = {"openssl dgst -sha256 (one file)", "exhibit verify (one file)", "sha2 crate (one file)"}
for name in rows:
    t = med(name)
    base = big if name in one_file else size
    speed = None if not t else base / t / 1e6
    extra = note(name)
    if name in one_file and not extra:
        extra = f"{big / 1048576:.0f} MiB file, one core"
    if "(4x size)" in name and not extra:
        extra = "1 run"
    print(f"| {name} | {fmt(t, '.2f')} | {fmt(speed, '.0f')} | {fmt(med_rss(name), '.1f')} | {extra} |")
for label, unpack, hash_ in [
    ("tar -xf + hashdeep sha256 (by hand)", "tar -xf", "hashdeep sha256 (tar tree)"),
    ("unzip -q + hashdeep sha256 (by hand)", "unzip -q", "hashdeep sha256 (zip tree)"),
    ("tar -xf + hashdeep md5,sha1,sha256 (by hand)", "tar -xf", "hashdeep md5,sha1,sha256"),
]:
    t = by_hand(unpack, hash_)
    speed = None if not t else size / t / 1e6
    print(f"| {label} | {fmt(t, '.2f')} | {fmt(speed, '.0f')} | | sum per run, then median |")
print()

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

print("Ratios of the medians above (time / time; the SHA-256 lines are throughput / throughput):")
print()
ratios = [
    ("exhibit extract tar / tar -xf", med("exhibit extract tar"), med("tar -xf")),
    ("exhibit extract tar / (tar -xf + hashdeep)", med("exhibit extract tar"), by_hand("tar -xf", "hashdeep sha256 (tar tree)")),
    ("exhibit extract tar / openssl dgst of the dump", med("exhibit extract tar"), med("openssl dgst -sha256 ffs.tar")),
    ("exhibit extract zip / unzip -q", med("exhibit extract zip"), med("unzip -q")),
    ("exhibit extract zip / (unzip -q + hashdeep)", med("exhibit extract zip"), by_hand("unzip -q", "hashdeep sha256 (zip tree)")),
    ("exhibit verify / hashdeep sha256", med("exhibit verify"), med("hashdeep sha256 (tar tree)")),
    ("exhibit verify / openssl dgst of the dump", med("exhibit verify"), med("openssl dgst -sha256 ffs.tar")),
    ("exhibit extract --hash md5,sha1,sha256 / hashdeep md5,sha1,sha256", med("exhibit extract --hash md5,sha1,sha256"), med("hashdeep md5,sha1,sha256")),
    ("exhibit extract --hash md5,sha1,sha256 / (tar -xf + hashdeep md5,sha1,sha256)", med("exhibit extract --hash md5,sha1,sha256"), by_hand("tar -xf", "hashdeep md5,sha1,sha256")),
    ("exhibit extract --hash md5,sha1,sha256 / exhibit extract tar", med("exhibit extract --hash md5,sha1,sha256"), med("exhibit extract tar")),
    # Throughput ratios: openssl's time over the other's, same file.
    ("SHA-256 one core, throughput: exhibit verify (one file) / openssl", med("openssl dgst -sha256 (one file)"), med("exhibit verify (one file)")),
    ("SHA-256 one core, throughput: sha2 crate / openssl", med("openssl dgst -sha256 (one file)"), med("sha2 crate (one file)")),
]
for label, a, b in ratios:
    print(f"- {label}: {fmt(ratio(a, b), '.2f')}")
print()

print("Targets:")
print()
def target(label, value, limit, higher_is_better=False):
    if value is None:
        print(f"- MISS  {label}: FAILED (no measurement)")
        return
    good = value >= limit if higher_is_better else value <= limit
    op = ">=" if higher_is_better else "<="
    print(f"- {'PASS' if good else 'MISS'}  {label}: {value:.2f} {op} {limit:g}")

target("exhibit extract tar <= 1.25 x tar -xf", ratio(med("exhibit extract tar"), med("tar -xf")), 1.25)
target("exhibit extract tar <= 0.5 x (tar -xf + hashdeep)", ratio(med("exhibit extract tar"), by_hand("tar -xf", "hashdeep sha256 (tar tree)")), 0.5)
target("exhibit extract zip <= 1.25 x unzip -q", ratio(med("exhibit extract zip"), med("unzip -q")), 1.25)
target("exhibit extract zip <= 0.5 x (unzip -q + hashdeep)", ratio(med("exhibit extract zip"), by_hand("unzip -q", "hashdeep sha256 (zip tree)")), 0.5)
target("exhibit verify <= 0.5 x hashdeep -r -c sha256", ratio(med("exhibit verify"), med("hashdeep sha256 (tar tree)")), 0.5)
# Throughput ratio = openssl time / exhibit time, same file.
target("SHA-256 one core: exhibit verify (one file) >= 0.9 x openssl throughput",
       ratio(med("openssl dgst -sha256 (one file)"), med("exhibit verify (one file)")), 0.9, True)
for name in ["exhibit extract tar", "exhibit extract zip", "exhibit extract --hash md5,sha1,sha256",
             "exhibit extract tar (4x size)", "exhibit extract zip (4x size)"]:
    if name in rows:
        target(f"peak RSS of {name} <= 64 MiB", med_rss(name), 64)
rss_note = env["B_RSS_NOTE"]
if rss_note:
    print(f"- MISS  peak RSS at 4x size: {rss_note}")
elif "exhibit extract tar (4x size)" not in rows:
    print("- (peak RSS at 4x size not measured: bash bench/run.sh --rss-scale)")
PY

cat "$SUMMARY"
echo
echo "raw measurements: $TSV"
echo "this summary:     $SUMMARY"
if ((FAILURES)); then
    echo
    echo "!!! $FAILURES command run(s) FAILED: see the FAILED rows above and the [bench] lines on stderr"
fi
