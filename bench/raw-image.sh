#!/usr/bin/env bash
# exhibit raw-image benchmark: `exhibit extract` of an ext4 image of at least 2 GiB (every file
# copied out and hashed, the image itself hashed) beside `sha256sum` of the same image, alternated
# in the same run, for issue 8's "extraction speed of a >= 2 GiB ext4 image beside sha256sum".
#
#   bash bench/raw-image.sh                           # SIZE=2G RUNS=3 WORK=/tmp/exhibit-raw-bench
#   TMPFS=1 bash bench/raw-image.sh                   # image and cases in /dev/shm: the tools' own cost
#   SIZE=512M RUNS=1 bash bench/raw-image.sh          # quick look (the image is then < 2 GiB)
#   GPT=1 bash bench/raw-image.sh                     # the volume as partition 1 of a GPT disk
#
# The tree is dumpgen's Android full-file-system mix (bench/README.md, "The dump"): about 20,000
# small app files, 600 photos/APKs/PDFs of 0.1-4 MiB and a few 50-200 MiB videos, incompressible
# media, SIZE bytes of contents; `mke2fs -t ext4 -b 4096 -d` makes the image (no root needed).
# SIZE and SEED fix every file's path, size, contents and mtime, and the UUID and hash seed are
# fixed, but the image's bytes differ from one build to the next: mke2fs copies each file's
# atime and ctime (the time of unpacking) and takes files in the order the host file system lists
# them. The image is cached in WORK.
#
# Prints a Markdown table (median seconds, MB/s, median CPU time and peak RSS) and the ratios of
# the medians exhibit / sha256sum and exhibit / openssl. Raw runs: $WORK/raw-results.tsv. The
# image stays in WORK for the next run (on tmpfs it holds RAM): rm -rf WORK when done.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/common.sh
. "$ROOT/bench/common.sh"
SIZE=${SIZE:-2G}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
if [[ ${TMPFS:-0} == 1 ]]; then
    WORK=${WORK:-/dev/shm/exhibit-raw-bench}
else
    WORK=${WORK:-/tmp/exhibit-raw-bench}
fi

for tool in mke2fs e2fsck sha256sum tar python3; do
    command -v "$tool" >/dev/null || { say "$tool is needed"; exit 1; }
done
# openssl is not the reference the issue names, but it is the SHA-256 floor of one core (SHA
# extensions when the CPU has them), which coreutils' sha256sum may not use.
HAVE_OPENSSL=0
command -v openssl >/dev/null && HAVE_OPENSSL=1
[[ -x /usr/bin/time ]] || { say "GNU time (/usr/bin/time) is needed for peak RSS"; exit 1; }

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
say "building release binaries (exhibit, the raw-image plugin, dumpgen)"
(cd "$ROOT" && cargo build --release -p exhibit -p exhibit-format-raw-image -p exhibit-bench-dumpgen -q >&2)
EXHIBIT=$TARGET/release/exhibit
DUMPGEN=$TARGET/release/exhibit-bench-dumpgen
PLUGIN=$TARGET/release/libexhibit_format_raw_image.so
[[ -f $PLUGIN ]] || { say "no $PLUGIN after the build"; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# The raw-image plugin alone: this measures extraction and hashing, not the artifact decoders
# (nor whatever else lies in the target folder).
PLUGINS=$WORK/plugins
rm -rf "$PLUGINS" && mkdir "$PLUGINS"
cp "$PLUGIN" "$PLUGINS/"
say "WORK $WORK ($(df --output=fstype "$WORK" | tail -n1), $(df -h --output=avail "$WORK" | tail -n1 | tr -d ' ') free)"
"$EXHIBIT" plugins --plugins "$PLUGINS" >&2

IMG=$WORK/ext4.img
# Room: the tar, the unpacked tree and the image (about 1.2 x SIZE) while generating; the image
# and one case while measuring.
BYTES=$(python3 -c 'import sys; s = sys.argv[1].upper(); u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
print(int(float(s[:-1]) * u[s[-1]]) if s[-1] in u else int(s))' "$SIZE")
NEEDED=$((BYTES * 7 / 2))
[[ -f $IMG ]] && NEEDED=$((BYTES * 5 / 4))
AVAIL=$(df -B1 --output=avail "$WORK" | tail -n1 | tr -d ' ')
if ((AVAIL < NEEDED)); then
    say "$((AVAIL >> 20)) MiB free in $WORK, about $((NEEDED >> 20)) MiB needed"
    exit 1
fi
KEY="size=$SIZE seed=$SEED htree gen=$(sha256sum <"$ROOT/bench/dumpgen/src/main.rs" | cut -c1-16) $(mke2fs -V 2>&1 | sed -n 1p)"
if [[ -f $IMG && -f $WORK/ext4.key && $(cat "$WORK/ext4.key") == "$KEY" ]]; then
    say "using the cached image $IMG"
else
    rm -f "$IMG" "$WORK/ext4.key"
    rm -rf "$WORK/gen" "$WORK/tree"
    say "generating the tree ($SIZE of file contents, seed $SEED)"
    "$DUMPGEN" --size "$SIZE" --seed "$SEED" --out "$WORK/gen" --formats tar >&2
    mkdir "$WORK/tree"
    tar -xf "$WORK/gen/ffs.tar" -C "$WORK/tree"
    rm -f "$WORK/gen/ffs.tar"
    # Room for the files in whole 4 KiB blocks, one block per folder, then 5 % and 256 MiB for
    # the inode tables, the bitmaps and the journal. Only sizes count, so it is deterministic.
    BLOCKS=$(python3 - "$WORK/tree" <<'PY'
import os, sys
blocks = 0
for base, dirs, files in os.walk(sys.argv[1]):
    blocks += 1 + sum((os.lstat(os.path.join(base, f)).st_size + 4095) // 4096 for f in files)
print(blocks * 105 // 100 + 65536)
PY
)
    say "making the ext4 image: $BLOCKS blocks of 4 KiB"
    E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -b 4096 -L userdata \
        -U 5eb1e0ee-2024-4c0d-8000-455848494254 -E hash_seed=5eb1e0ee-2024-4c0d-8000-000000000001 \
        -d "$WORK/tree" "$IMG" "$BLOCKS" >/dev/null
    rm -rf "$WORK/tree"
    # mke2fs -d writes every folder as a linear list; the kernel gives a folder that outgrows
    # one block an htree index, as on a phone's userdata, and `e2fsck -D` does the same here.
    # Without it every lookup of a file in a big folder scans the whole folder.
    say "indexing the folders (e2fsck -fyD)"
    E2FSPROGS_FAKE_TIME=1700000000 e2fsck -fyD "$IMG" >/dev/null 2>&1 || {
        status=$?
        # 1: errors corrected (the folders were optimised); more is a real problem.
        ((status == 1)) || { say "e2fsck -fyD $IMG failed with exit $status"; exit 1; }
    }
    echo "$KEY" >"$WORK/ext4.key"
fi
if [[ ${GPT:-0} == 1 ]]; then
    # The same volume as partition 1 (`userdata`) of a GPT disk, so the run also hashes the
    # partition and the spans around it as regions (one more SHA-256 pass over the disk).
    DISK=$WORK/gpt.img
    if [[ ! -f $DISK || $DISK -ot $IMG ]]; then
        say "wrapping the image in a GPT disk ($DISK)"
        python3 - "$IMG" "$DISK" <<'PY'
import os, shutil, struct, sys, uuid, zlib
src, out = sys.argv[1], sys.argv[2]
S = 512
first = 2048
last = first + (os.path.getsize(src) + S - 1) // S - 1
total = last + 1 + 2048
entries = bytearray(128 * 128)
entries[:128] = (uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4").bytes_le
                 + uuid.UUID("5eb1e0ee-2024-4c0d-8000-000000000002").bytes_le
                 + struct.pack("<QQQ", first, last, 0)
                 + "userdata".encode("utf-16-le").ljust(72, b"\0"))
ecrc = zlib.crc32(entries)
disk_guid = uuid.UUID("5eb1e0ee-2024-4c0d-8000-000000000003").bytes_le
def header(mine, other, entries_lba):
    h = bytearray(92)
    h[:8] = b"EFI PART"
    struct.pack_into("<IIIIQQQQ16sQIII", h, 8, 0x10000, 92, 0, 0, mine, other, 34,
                     total - 34, disk_guid, entries_lba, 128, 128, ecrc)
    struct.pack_into("<I", h, 16, zlib.crc32(h))
    return bytes(h)
mbr = bytearray(S)
mbr[446 + 4] = 0xEE
struct.pack_into("<II", mbr, 446 + 8, 1, min(total - 1, 0xFFFFFFFF))
mbr[510:512] = b"\x55\xaa"
with open(out, "wb") as f:
    f.truncate(total * S)
    for lba, data in [(0, mbr), (1, header(1, total - 1, 2)), (2, entries),
                      (total - 33, entries), (total - 1, header(total - 1, 1, total - 33))]:
        f.seek(lba * S)
        f.write(data)
    f.seek(first * S)
    with open(src, "rb") as s:
        shutil.copyfileobj(s, f, 1 << 20)
PY
    fi
    IMG=$DISK
fi
IMG_BYTES=$(stat -c %s "$IMG")
CONTENT_BYTES=$(awk -F'\t' 'NR > 1 {s += $1} END {printf "%.0f\n", s}' "$WORK/gen/manifest.tsv")
FILES=$(($(wc -l <"$WORK/gen/manifest.tsv") - 1))
say "image $IMG: $((IMG_BYTES / 1048576)) MiB, $FILES files, $((CONTENT_BYTES / 1048576)) MiB of contents"

RESULTS=$WORK/raw-results.tsv
printf 'command\trun\tseconds\tuser_s\tsys_s\tpeak_rss_kib\texit\n' >"$RESULTS"
FAILURES=0

# run NAME RUN ARGV...: times ARGV under GNU time and appends a row to $RESULTS. A non-zero exit
# (exhibit's 2, completed with warnings, included: this image is clean) is shown and counted.
run() {
    local name=$1 round=$2
    shift 2
    sync
    local status=0
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.out" "$@" >"$WORK/stdout.out" 2>"$WORK/stderr.out" || status=$?
    sed -i '/exited with non-zero status\|terminated by signal/d' "$WORK/time.out"
    local secs user sys rss
    read -r secs user sys rss <"$WORK/time.out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$secs" "$user" "$sys" "$rss" "$status" >>"$RESULTS"
    if ((status != 0)); then
        FAILURES=$((FAILURES + 1))
        say "!!! $name run $round: exit $status"
        head -n 20 "$WORK/stderr.out" "$WORK/stdout.out" | sed 's/^/    /' >&2
    else
        say "$name run $round: ${secs}s (CPU ${user}s user, ${sys}s system), peak RSS $((rss / 1024)) MiB"
    fi
}

for round in $(seq 1 "$RUNS"); do
    # Alternate which command goes first, so neither always follows the other's page-cache use.
    order=(exhibit sha256sum)
    ((round % 2 == 0)) && order=(sha256sum exhibit)
    ((HAVE_OPENSSL)) && order+=(openssl)
    for command in "${order[@]}"; do
        if [[ $command == exhibit ]]; then
            rm -rf "$WORK/case"
            run "exhibit extract" "$round" "$EXHIBIT" extract "$IMG" --case "$WORK/case" --plugins "$PLUGINS" -q
            if ((round == RUNS)); then
                run "exhibit verify" "$round" "$EXHIBIT" verify "$WORK/case" -q
            fi
            rm -rf "$WORK/case"
        elif [[ $command == sha256sum ]]; then
            run "sha256sum" "$round" sha256sum "$IMG"
        else
            run "openssl dgst -sha256" "$round" openssl dgst -sha256 "$IMG"
        fi
    done
done
rm -f "$WORK/time.out" "$WORK/stdout.out" "$WORK/stderr.out"

export B_IMG_BYTES=$IMG_BYTES B_CONTENT_BYTES=$CONTENT_BYTES B_FILES=$FILES
export B_MACHINE="$(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
export B_WORK="$WORK ($(df --output=fstype "$WORK" | tail -n1))"
GIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT="$GIT (uncommitted changes)"
export B_EXHIBIT="git $GIT, plugins from $PLUGINS"
python3 - "$RESULTS" <<'PY'
import csv, os, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
env = os.environ
img, content, files = int(env["B_IMG_BYTES"]), int(env["B_CONTENT_BYTES"]), int(env["B_FILES"])
print(f"ext4 image benchmark: {img / 2**20:.0f} MiB image ({img / 2**30:.2f} GiB), {files} files, "
      f"{content / 2**20:.0f} MiB of contents")
print(f"- machine: {env['B_MACHINE']}")
print(f"- WORK: {env['B_WORK']}; page cache warm, sync before each command")
print(f"- exhibit: {env['B_EXHIBIT']}")
print()
print("| command | runs | median s | image MB/s | contents MB/s | median CPU s (user + system) | median peak RSS MiB | note |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
med = {}
for name in dict.fromkeys(r["command"] for r in rows):
    got = [r for r in rows if r["command"] == name]
    bad = [r for r in got if r["exit"] != "0"]
    t = statistics.median(float(r["seconds"]) for r in got)
    rss = statistics.median(int(r["peak_rss_kib"]) for r in got) / 1024
    cpu = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in got)
    if not bad:
        med[name] = t
    note = f"FAILED: exit {bad[0]['exit']} in {len(bad)}/{len(got)} runs" if bad else ""
    print(f"| {name} | {len(got)} | {t:.2f} | {img / t / 1e6:.0f} | {content / t / 1e6:.0f} | {cpu:.2f} | {rss:.1f} | {note} |")
print()
if "exhibit extract" in med and "sha256sum" in med:
    print(f"Ratio of the medians exhibit extract / sha256sum: {med['exhibit extract'] / med['sha256sum']:.2f}")
else:
    print("Ratio of the medians exhibit extract / sha256sum: FAILED (a command failed)")
if "exhibit extract" in med and "openssl dgst -sha256" in med:
    print(f"Ratio of the medians exhibit extract / openssl dgst -sha256: "
          f"{med['exhibit extract'] / med['openssl dgst -sha256']:.2f}")
PY
echo "raw measurements: $RESULTS (the image stays in $WORK: rm -rf it when done)"
if ((FAILURES)); then
    say "!!! $FAILURES run(s) failed: see above"
    exit 1
fi
