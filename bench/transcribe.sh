#!/bin/bash
# Benchmark of issue 4's batch path: earshot transcribe over 1 hour of
# long-form audio with a 12-label model (FSDD digits + _unknown_ +
# _silence_, trained here on 4 speakers), -j 2:
#   - throughput as x real time (wall clock, and from the CPU time: what 2
#     idle cores would give), peak RSS;
#   - peak RSS of one 10-minute file vs one 60-minute file (flat in length);
#   - the same hour at 8 kHz with each resampler (best, medium, fast);
#   - early (live-style) decisions: latency after each word and their F1;
#   - long-form event precision / recall / F1 and start-time error of the
#     held-out speakers (tests/longform_tool.c builds the set, seed 2; the
#     detector's constants were set on seed 1).
# Targets: >= 300x real time on 2 cores, <= 60 MB, F1 >= 0.90, start error
# <= 120 ms.
#
#   bench/transcribe.sh [--work DIR] [--jobs N]
# Needs the build (ninja -C build), the models, ../shared/data/fsdd,
# espeak-ng, sox and GNU time (scripts/setup.sh installs them).
set -euo pipefail
root=$(cd "$(dirname -- "$0")/.." && pwd)
work="$root/build/bench-transcribe"
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work=$(realpath -m -- "$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/transcribe.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN="$root/build/earshot"
TOOL="$root/build/tests/longform_tool"
FSDD="$root/../shared/data/fsdd"
[ -x "$BIN" ] && [ -x "$TOOL" ] || { echo "build first: ninja -C build" >&2; exit 1; }
[ -f "$FSDD/0_theo_0.wav" ] || { echo "FSDD not found at $FSDD" >&2; exit 1; }
for c in espeak-ng sox /usr/bin/time; do command -v $c >/dev/null || { echo "$c not found: run scripts/setup.sh" >&2; exit 1; }; done
export EARSHOT_CACHE="$work/cache"
mkdir -p "$work"

if [ ! -f "$work/set/long/long_5.tsv" ]; then
  echo "building the long-form set (6 x 10 min, seed 2) in $work ..."
  rm -rf "$work/set" "$work/words"
  "$root/tests/make_words.sh" "$work/words" 2>/dev/null
  "$TOOL" make "$FSDD" "$work/words" "$work/set" --files 6 --seconds 600 --takes 15 --seed 2
fi
if [ ! -f "$work/digits.safetensors" ]; then
  "$BIN" train -q "$work/set/train" -o "$work/digits.safetensors" --window 10 --pad-to 1.6
fi
M=(-m "$work/digits.safetensors" --threshold 0.7)

loadavg() { cut -d' ' -f1 /proc/loadavg; }
# run NAME ARGS...: time one transcribe; prints elapsed, cpu, rss
run() {
  local name=$1; shift
  rm -rf "$work/out"
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$BIN" transcribe -q "$@" -ojson -d "$work/out" >/dev/null
  read -r el us sy rss <"$work/time"
  awk -v n="$name" -v el="$el" -v us="$us" -v sy="$sy" -v rss="$rss" -v j="$jobs" -v h="${hours:-1}" 'BEGIN {
    cpu = us + sy; printf "%-34s %7.2f s wall %7.2f s CPU  %6.0fx real time (wall)  %6.0fx (CPU, %d cores)  peak RSS %5.1f MB\n",
      n, el, cpu, h * 3600 / el, h * 3600 / cpu * j, j, rss / 1024 }'
}
echo "load average before: $(loadavg) on $(nproc) CPUs (other work on the machine slows the wall-clock figures)"
hours=1 run "1 h, 16 kHz, -j $jobs" -j "$jobs" "${M[@]}" "$work/set/long"
cat "$work/out"/*.json >"$work/events.jsonl"
echo "long-form (held-out speakers, 1 h): $("$TOOL" score "$work/set/long" "$work/events.jsonl")"

if [ ! -f "$work/one60.wav" ]; then
  sox "$work"/set/long/long_?.wav "$work/one60.wav"
  sox "$work/set/long/long_0.wav" "$work/one10.wav"
fi
hours=0.1667 run "one 10-min file, -j 1" -j 1 "${M[@]}" "$work/one10.wav"
hours=1 run "one 60-min file, -j 1" -j 1 "${M[@]}" "$work/one60.wav"

if [ ! -f "$work/set8k/long_5.wav" ]; then
  mkdir -p "$work/set8k"
  for f in "$work"/set/long/long_?.wav; do sox "$f" -r 8000 "$work/set8k/$(basename "$f")"; done
  cp "$work"/set/long/*.tsv "$work/set8k/"
fi
for q in best medium fast; do
  hours=1 run "1 h, 8 kHz, --resample $q" -j "$jobs" --resample "$q" "${M[@]}" "$work/set8k"
  cat "$work/out"/*.json >"$work/events8k.jsonl"
  echo "  long-form at 8 kHz ($q): $("$TOOL" score "$work/set8k" "$work/events8k.jsonl")"
done
# live-style decisions: how long after the end of each detected digit its
# event comes, pushing 80 ms at a time (audio time, compute not included)
"$TOOL" latency "$work/digits.safetensors" "$work/set/long" --threshold 0.7
"$TOOL" latency "$work/digits.safetensors" "$work/set/long" --threshold 0.7 --smooth 1 --min-duration 0.24
hours=1 run "1 h, 16 kHz, -j $jobs, --early" -j "$jobs" --early "${M[@]}" "$work/set/long"
cat "$work/out"/*.json >"$work/events_early.jsonl"
echo "long-form, --early: $("$TOOL" score "$work/set/long" "$work/events_early.jsonl")"
rm -rf "$work/out"
hours=1 run "1 h, --early --smooth 1 --min-duration 0.24" -j "$jobs" --early --smooth 1 --min-duration 0.24 "${M[@]}" "$work/set/long"
cat "$work/out"/*.json >"$work/events_early1.jsonl"
echo "long-form, --early --smooth 1 --min-duration 0.24: $("$TOOL" score "$work/set/long" "$work/events_early1.jsonl")"
echo "load average after: $(loadavg)"
