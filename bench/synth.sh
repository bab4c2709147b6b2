#!/bin/bash
# Speed of making a vocabulary from text: synthesise 1,000 takes (10 digit
# words x 90 takes + 100 _unknown_, both engines, every augmentation) and
# embed them all with a cold embedding cache, on --threads N (default 2).
# Target (issue 6): <= 60 s in total on 2 cores.
#
#   bench/synth.sh [--threads N] [--build DIR]     (scripts/bench.sh --synth runs it)
#
# Prints the two stages and the total, then PASS or MISS.
set -euo pipefail
threads=2
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    -h|--help) echo "usage: $0 [--threads N] [--build DIR]"; exit 0 ;;
    *) echo "usage: $0 [--threads N] [--build DIR]" >&2; exit 2 ;;
  esac
done
cd "$(dirname -- "$0")/.."
bin="$build/earshot"
[ -x "$bin" ] || { echo "bench/synth.sh: $bin not built" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
words="0=zero,1=one,2=two,3=three,4=four,5=five,6=six,7=seven,8=eight,9=nine"
now() { date +%s.%N; }
t0=$(now)
"$bin" synth --words "$words" -n 90 --unknown 100 -t "$threads" -q -o "$tmp/data" >/dev/null
t1=$(now)
# a cold cache: every take goes through the front end and the encoder
out=$("$bin" train "$tmp/data" -o "$tmp/m.safetensors" --cache "$tmp/cache" --epochs 1 -t "$threads" -q 2>&1) ||
  { echo "$out" >&2; exit 1; }
t2=$(now)
n=$(find "$tmp/data" -name '*.wav' | wc -l)
embed=$(printf '%s\n' "$out" | sed -n 's/^embedding \([0-9.]*\) s.*/\1/p')
# (awk, not bc: bc is not installed by scripts/setup.sh, and a missing bc
# made every time 0.0 s and the verdict PASS)
[ -n "$embed" ] || { echo "bench/synth.sh: no embedding time in train's output:" >&2; echo "$out" >&2; exit 1; }
awk -v n="$n" -v th="$threads" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v e="$embed" 'BEGIN {
  s = t1 - t0; t = t2 - t0
  if (!(t > 0)) { print "bench/synth.sh: no time measured" > "/dev/stderr"; exit 1 }
  printf "synth1000  threads %d  takes %d\n", th, n
  printf "  synthesis (espeak-ng + flite, augmented, WAV written)  %6.1f s\n", s
  printf "  embedding (cold cache)                                 %6.1f s\n", e
  printf "  total (synthesis + earshot train)                      %6.1f s   target <= 60 s: %s\n", t, (t <= 60 ? "PASS" : "MISS")
}'
