#!/bin/bash
# A synthetic speaker background for `earshot enroll --background`, made
# with espeak-ng when no recordings of other speakers are at hand:
#
#   scripts/speaker-background.sh OUT_DIR
#   build/earshot enroll -p profiles.safetensors --background OUT_DIR -n me me/*.wav
#
# 16 voices (4 English accents x 4 espeak-ng variants, each with its own
# pitch) say 30 words at varied speeds: 480 clips, one folder per voice.
# On FSDD (bench/README.md) it raises identification at 5 enrollment clips
# from 0.88 to 0.91; recordings of real speakers do better (0.96), so use
# them when you have them.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
command -v espeak-ng >/dev/null || { echo "$0: espeak-ng not found (scripts/setup.sh installs it)" >&2; exit 1; }
out=$1
words=(zero one two three four five six seven eight nine yes no stop go left right up down on off
       hello water music light open close morning table window seven)
i=0
for v in en-us en en-gb-scotland en-029; do
  for var in m1 m3 f2 f4; do
    i=$((i + 1))
    p=$((30 + (i * 7) % 40))
    mkdir -p "$out/voice$i"
    j=0
    for w in "${words[@]}"; do
      j=$((j + 1))
      espeak-ng -v "$v+$var" -p "$p" -s $((130 + (j * 13) % 60)) -w "$out/voice$i/${w}_$j.wav" "$w"
    done
  done
done
echo "$0: $(find "$out" -name '*.wav' | wc -l) clips of $i voices in $out"
