#!/bin/bash
# A synthetic speaker background for `earshot enroll --background`, made
# with espeak-ng and sox when no recordings of other speakers are at hand:
#
#   scripts/speaker-background.sh OUT_DIR
#   build/earshot enroll -p profiles.safetensors --background OUT_DIR -n me me/*.wav
#
# 64 synthetic speakers, one folder each, 20 takes of words drawn from 30.
# A speaker is an espeak-ng accent and voice variant with its own pitch and
# speaking rate, its vocal tract lengthened or shortened by resampling
# (sox speed 0.85-1.15 moves every formant by that factor: the main way
# real voices differ that espeak-ng's variants do not cover) and its own
# "microphone" (bass and treble tilts of up to +-6 dB). Each take varies
# the pitch (+-5), the rate (+-20 words/min) and the level, as takes of one
# person do. The background teaches the projection how a voice varies from
# take to take; on FSDD (bench/README.md) it raises identification at 5
# enrollment takes from 0.938 to 0.951. Recordings of real speakers do
# better when you have them. Seeded, and sox -R: the same audio every run.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
for t in espeak-ng sox; do
  command -v $t >/dev/null || { echo "$0: $t not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
out=$1
nspk=64
ntake=20
RANDOM=7
words=(zero one two three four five six seven eight nine yes no stop go left right up down on off
       hello water music light open close morning table window seven)
accents=(en-us en en-gb-scotland en-029 en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-us-nyc)
variants=(m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 david edward john max paul
          linda annie belinda grandpa)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 1 "$nspk"); do
  a=${accents[$((RANDOM % ${#accents[@]}))]}
  v=${variants[$((RANDOM % ${#variants[@]}))]}
  pitch=$((20 + RANDOM % 61))
  rate=$((130 + RANDOM % 60))
  x=$((85 + RANDOM % 31))   # drawn here: $RANDOM inside $( ) is reseeded, not reproducible
  tract=$(awk -v x=$x 'BEGIN { printf "%.2f", x / 100 }')
  bass=$((RANDOM % 13 - 6))
  treble=$((RANDOM % 13 - 6))
  mkdir -p "$out/voice$i"
  for j in $(seq 1 "$ntake"); do
    w=${words[$((RANDOM % ${#words[@]}))]}
    p=$((pitch + RANDOM % 11 - 5))
    s=$((rate + RANDOM % 41 - 20))
    espeak-ng -v "$a+$v" -p "$p" -s "$s" -w "$tmp/a.wav" "$w"
    sox -R "$tmp/a.wav" -r 16000 "$out/voice$i/${w}_$j.wav" speed "$tract" bass "$bass" treble "$treble" \
        gain -n -$((3 + RANDOM % 12)) 2>/dev/null
  done
done
echo "$0: $(find "$out" -name '*.wav' | wc -l) clips of $nspk voices in $out"
