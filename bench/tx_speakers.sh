#!/bin/bash
# Speaker of each event with `earshot transcribe --speakers` on real speech:
# 4 files, each 50 FSDD digits (takes 10-19) of theo and yweweler in a
# fixed shuffled order, 1.0 / 1.5 / 2.0 s apart, in digital silence and
# again in pink noise (about -40 dBFS). A 12-label digits model trained on
# the four other speakers finds the words; events are matched to the truth
# (centre within 0.5 s) and their speaker compared. Profiles, all with 5
# takes per speaker (digits 0-4, take 0) and the threshold at 0 (closed
# set: the closest speaker is always named):
#   p2     theo and yweweler, clean (trimmed) takes
#   p2bg   the same with a background of the four other speakers
#   p6     all six speakers, clean takes
#   n2, n6 like p2 / p6 from the takes with 0.3 s margins in the same noise
# Each profile also identifies the 200 digits as whole clips (clean), the
# reference for what the event cut loses.
#
#   bench/tx_speakers.sh [--work DIR] [--model DIGITS.safetensors]
# The model defaults to bench/transcribe.sh's (built the same way if absent).
set -euo pipefail
root=$(cd "$(dirname -- "$0")/.." && pwd)
work="$root/build/bench-tx-speakers"
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work=$(realpath -m -- "$2"); shift 2 ;;
    --model) model=$(realpath -- "$2"); shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/tx_speakers.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN="$root/build/earshot"
TOOL="$root/build/tests/longform_tool"
FSDD="$root/../shared/data/fsdd"
[ -x "$BIN" ] && [ -x "$TOOL" ] || { echo "build first: ninja -C build" >&2; exit 1; }
[ -f "$FSDD/0_theo_0.wav" ] || { echo "FSDD not found at $FSDD" >&2; exit 1; }
for c in espeak-ng sox node; do command -v $c >/dev/null || { echo "$c not found: run scripts/setup.sh" >&2; exit 1; }; done
mkdir -p "$work"
export EARSHOT_CACHE="$work/cache"
if [ -z "$model" ]; then
  model="$root/build/bench-transcribe/digits.safetensors"
  if [ ! -f "$model" ]; then
    model="$work/digits.safetensors"
    if [ ! -f "$model" ]; then
      "$root/tests/make_words.sh" "$work/words"
      "$TOOL" make "$FSDD" "$work/words" "$work/set" --files 1 --seconds 10 --seed 2
      "$BIN" train -q "$work/set/train" -o "$model" --window 10 --pad-to 1.6
    fi
  fi
fi
cd "$work"
rm -rf long noisy clips enr p*.safetensors n*.safetensors
mkdir -p long noisy clips enr
for g in 1.0 1.5 2.0; do sox -n -r 16000 -c 1 -b 16 "sil$g.wav" trim 0 "$g"; done
# the fixed order: awk's seeded generator
list=$(for s in theo yweweler; do for d in 0 1 2 3 4 5 6 7 8 9; do for t in 10 11 12 13 14 15 16 17 18 19; do
  echo "$d $s $t"; done; done; done | awk 'BEGIN { srand(7) } { print rand() "\t" $0 }' | sort -n | cut -f2)
i=0
while read -r d s t; do
  sox "$FSDD/${d}_${s}_$t.wav" -r 16000 -c 1 -b 16 "clips/${d}_${s}_$t.wav"
  echo "$((i / 50)) ${d}_${s}_$t $(( (i % 3) ))"
  i=$((i + 1))
done <<<"$list" > order.txt
gaps=(1.0 1.5 2.0)
for f in 0 1 2 3; do
  parts=()
  tm=0
  : > "long/l$f.tsv"
  while read -r file name g; do
    [ "$file" = "$f" ] || continue
    gap=${gaps[$g]}
    parts+=("sil$gap.wav" "clips/$name.wav")
    dur=$(soxi -D "clips/$name.wav")
    st=$(awk -v a="$tm" -v b="$gap" 'BEGIN { printf "%.4f", a + b }')
    tm=$(awk -v a="$st" -v b="$dur" 'BEGIN { printf "%.4f", a + b }')
    printf '%s\t%s\t%s\n' "$st" "$tm" "$(echo "$name" | cut -d_ -f2)" >> "long/l$f.tsv"
  done < order.txt
  sox "${parts[@]}" sil2.0.wav "long/l$f.wav"
  sox -n -r 16000 -c 1 -b 16 noise.wav synth "$(soxi -D "long/l$f.wav")" pinknoise vol 0.01
  sox -m "long/l$f.wav" noise.wav "noisy/l$f.wav"
  cp "long/l$f.tsv" noisy/
done
# enrollment takes: clean (FSDD's trimmed clips) and noisy with 0.3 s margins
sox -n -r 16000 -c 1 -b 16 m.wav trim 0 0.3
for s in george jackson lucas nicolas theo yweweler; do for d in 0 1 2 3 4; do
  sox "$FSDD/${d}_${s}_0.wav" -r 16000 -c 1 -b 16 t.wav
  sox m.wav t.wav m.wav t2.wav
  sox -n -r 16000 -c 1 -b 16 noise.wav synth "$(soxi -D t2.wav)" pinknoise vol 0.01
  sox -m t2.wav noise.wav "enr/${d}_${s}_0.wav"
done; done
enroll() {   # PROFILE DIR SPEAKERS...
  local p=$1 dir=$2; shift 2
  for s in "$@"; do "$BIN" enroll -q -n "$s" -p "$p" --threshold 0 "$dir"/{0,1,2,3,4}_${s}_0.wav >/dev/null; done
}
enroll p2.safetensors "$FSDD" theo yweweler
cp p2.safetensors p2bg.safetensors
mkdir -p bg
for s in george jackson lucas nicolas; do for d in 0 1 2 3 4 5 6 7 8 9; do for t in 0 1 2 3 4; do
  ln -sf "$FSDD/${d}_${s}_$t.wav" bg/; done; done; done
"$BIN" enroll -q -p p2bg.safetensors --background bg --background-pattern '{label}_{speaker}_{take}' --threshold 0 >/dev/null
enroll p6.safetensors "$FSDD" george jackson lucas nicolas theo yweweler
enroll n2.safetensors enr theo yweweler
enroll n6.safetensors enr george jackson lucas nicolas theo yweweler

score() {   # JSONL DIR
  node -e '
    const fs = require("fs");
    let n = 0, right = 0, ev = 0, truth = 0;
    for (const line of fs.readFileSync(process.argv[1], "utf8").trim().split("\n")) {
      const o = JSON.parse(line);
      const t = fs.readFileSync(o.file.replace(/\.wav$/, ".tsv"), "utf8").trim().split("\n").map(l => l.split("\t"));
      truth += t.length;
      const used = new Set();
      for (const e of o.events) {
        ev++;
        const c = (e.start + e.end) / 2;
        const k = t.findIndex((r, i) => !used.has(i) && Math.abs((+r[0] + +r[1]) / 2 - c) <= 0.5);
        if (k < 0) continue;
        used.add(k); n++;
        if (e.speaker === t[k][2]) right++;
      }
    }
    console.log(`${right}/${n} = ${(right / n).toFixed(3)} (events ${ev}, truth ${truth})`);
  ' "$1"
}
printf '%-6s %-42s %-42s %s\n' profile "events, clean stream" "events, noisy stream" "whole clips (clean)"
for p in p2 p2bg p6 n2 n6; do
  "$BIN" transcribe -q -m "$model" --threshold 0.7 --speakers "$p.safetensors" -ojson long > "$p.clean.jsonl"
  "$BIN" transcribe -q -m "$model" --threshold 0.7 --speakers "$p.safetensors" -ojson noisy > "$p.noisy.jsonl"
  clip=$("$BIN" identify -q "$p.safetensors" clips/*.wav | awk -F'\t' '{ n++; split($1, a, "_"); if (a[2] == $2) r++ }
    END { printf "%d/%d = %.3f", r, n, r / n }')
  printf '%-6s %-42s %-42s %s\n' "$p" "$(score "$p.clean.jsonl")" "$(score "$p.noisy.jsonl")" "$clip"
done
