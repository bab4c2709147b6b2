#!/bin/bash
# Accuracy of a digit model made from text (issue 6), on the Free Spoken
# Digit Dataset (real speech, 6 speakers, 3,000 clips), per speaker:
#
#   text-only  earshot train --words "0=zero,...,9=nine" -n 100 --unknown 0
#              --seed S [EXTRA...], evaluated on all 3,000 clips;
#   mixed      the same plus --data: take 0 of every digit of three
#              speakers (30 clips), evaluated on the other three speakers'
#              1,500 clips; both ways round (A: george, jackson, lucas ->
#              nicolas, theo, yweweler; B: the reverse), and their mean;
#   --loso     the reference: a head trained on all 2,500 real clips of
#              five speakers, tested on the sixth, for each speaker;
#   --self-adapt  every evaluation with `eval --self-adapt` instead: each
#              speaker's clips in turn, the model learning the voice's
#              offset from its own decisions (not a cold-start figure).
#
#   bench/synth_accuracy.sh [--seeds "1 2"] [--mixed] [--loso] [--self-adapt]
#                           [--fsdd DIR] [--build DIR] [-- EXTRA TRAIN OPTIONS...]
#
# The synthesis and embedding caches are the usual ones
# ($EARSHOT_SYNTH_CACHE, $EARSHOT_CACHE), so a repeat only trains.
set -euo pipefail
seeds="1 2"
mixed=0
loso=0
selfadapt=
build=build
fsdd=
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --mixed) mixed=1; shift ;;
    --loso) loso=1; shift ;;
    --self-adapt) selfadapt=--self-adapt; shift ;;
    --fsdd) fsdd="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) echo "usage: $0 [--seeds \"1 2\"] [--mixed] [--loso] [--self-adapt] [--fsdd DIR] [--build DIR] [-- TRAIN OPTIONS]"; exit 0 ;;
    *) echo "usage: $0 [--seeds \"1 2\"] [--mixed] [--loso] [--self-adapt] [--fsdd DIR] [--build DIR] [-- TRAIN OPTIONS]" >&2; exit 2 ;;
  esac
done
cd "$(dirname -- "$0")/.."
case "$build" in /*) bin="$build/earshot" ;; *) bin="$PWD/$build/earshot" ;; esac
[ -x "$bin" ] || { echo "bench/synth_accuracy.sh: $bin not built" >&2; exit 1; }
fsdd="${fsdd:-$PWD/../shared/data/fsdd}"
[ -f "$fsdd/0_george_0.wav" ] || { echo "bench/synth_accuracy.sh: FSDD not found at $fsdd" >&2; exit 1; }
fsdd="$(cd "$fsdd" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
speakers="george jackson lucas nicolas theo yweweler"
for s in $speakers; do mkdir -p "$tmp/spk/$s"; ln -s "$fsdd"/*_"$s"_*.wav "$tmp/spk/$s/"; done
for s in george jackson lucas; do mkdir -p "$tmp/realA"; ln -s "$fsdd"/[0-9]_"$s"_0.wav "$tmp/realA/"; done
for s in nicolas theo yweweler; do mkdir -p "$tmp/realB"; ln -s "$fsdd"/[0-9]_"$s"_0.wav "$tmp/realB/"; done
words="0=zero,1=one,2=two,3=three,4=four,5=five,6=six,7=seven,8=eight,9=nine"
pat='{label}_{speaker}_{take}'
acc() { "$bin" eval -q $selfadapt "$1" "$2" --pattern "$pat" | sed -n '/^self-adapted/d; p' | sed -n '1s/.*accuracy \([0-9.]*\).*/\1/p'; }
# per-speaker accuracies of model $1 -> "george 0.874 jackson ..."
per_speaker() { for s in $speakers; do printf '%s %s ' "$s" "$(acc "$1" "$tmp/spk/$s")"; done; }
mean3() { awk -v l="$1" -v w="$2" 'BEGIN { n = split(l, a, " "); s = 0; k = 0
  for (i = 1; i < n; i += 2) if (index(" " w " ", " " a[i] " ")) { s += a[i + 1]; k++ } printf "%.4f", s / k }'; }
printf 'seed  set        all     george  jackson lucas   nicolas theo    yweweler\n'
for seed in $seeds; do
  m="$tmp/text-$seed.safetensors"
  "$bin" train -q --words "$words" -n 100 --unknown 0 --seed "$seed" "$@" -o "$m" >/dev/null
  ps=$(per_speaker "$m")
  printf '%-5s text-only  %-7s %s\n' "$seed" "$(acc "$m" "$fsdd")" "$(echo "$ps" | awk '{ for (i = 2; i <= NF; i += 2) printf "%-7s ", $i }')"
  if [ "$mixed" = 1 ]; then
    for side in A B; do
      "$bin" train -q --words "$words" -n 100 --unknown 0 --seed "$seed" "$@" --data "$tmp/real$side" --pattern "$pat" \
        -o "$tmp/mix$side-$seed.safetensors" >/dev/null
    done
    a=$(mean3 "$(per_speaker "$tmp/mixA-$seed.safetensors")" "nicolas theo yweweler")
    b=$(mean3 "$(per_speaker "$tmp/mixB-$seed.safetensors")" "george jackson lucas")
    printf '%-5s mixed      A (g,j,l -> n,t,y) %s   B (n,t,y -> g,j,l) %s   mean %s\n' "$seed" "$a" "$b" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", (a + b) / 2 }')"
  fi
done
if [ "$loso" = 1 ]; then
  line=""
  for s in $speakers; do
    mkdir -p "$tmp/loso-$s"
    for o in $speakers; do [ "$o" = "$s" ] || ln -s "$fsdd"/*_"$o"_*.wav "$tmp/loso-$s/"; done
    "$bin" train -q "$tmp/loso-$s" --pattern "$pat" -o "$tmp/loso-$s.safetensors" >/dev/null
    line="$line$(acc "$tmp/loso-$s.safetensors" "$tmp/spk/$s") "
  done
  printf 'all   real LOSO  %-7s %s\n' "$(echo "$line" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.4f", s / NF }')" \
    "$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) printf "%-7s ", $i }')"
fi
