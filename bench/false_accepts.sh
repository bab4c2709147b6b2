#!/bin/bash
# False accepts per hour of other speech: how often a keyword model fires on
# talk that never says its words, the figure wake-word users ask first.
#
#   bench/false_accepts.sh [--minutes N] [--work DIR] [--snr DB] [--fsdd DIR|none] [MODEL...]
#
# The "other speech" is read aloud by espeak-ng: the licence texts every
# Debian system has (/usr/share/common-licenses: GPL-3, Apache-2.0, MPL-2.0,
# ...), in 40-word pieces, each in another of 8 voices at 130-190 words a
# minute, joined into files of about 10 minutes at 16 kHz (--minutes in all, default
# 60), and also with pink noise at --snr dB (default 20). Synthetic speech
# of legal prose is not a podcast: the figure says how a model treats
# speech it was not trained to reject, not what a living room will give.
#
# Real talk too, when FSDD is there (--fsdd DIR, default ../shared/data/fsdd;
# --fsdd none: without): its clips joined in a fixed shuffled order into
# files of 500 clips at 16 kHz, speakers george, jackson and lucas as talk
# to train on (12.8 min) and nicolas, theo and yweweler held out as talk to
# test on (9.1 min): real voices saying digits, far denser than
# conversation.
#
# MODEL: earshot models (.safetensors) or openWakeWord heads. Without any,
# the README's two demo models are trained first (samples/vocab alone, and
# mixed with synthetic takes of its words), and with FSDD both again with
# `--negatives` of the training talk; their words missed are measured on 100
# synthetic takes of each word in voices stretched by --formant 0.85:1.2
# (seed 77; `eval --thresholds`). Each model runs through `earshot
# transcribe` at thresholds 0.5, 0.7 and 0.9 (transcribe's other defaults);
# every event counts as false, and the script first counts the times the
# text itself holds a model's label (underscores read as spaces), which
# would be true hits, and says so.
set -euo pipefail
minutes=60
snr=20
root=$(cd "$(dirname -- "$0")/.." && pwd)
work="$root/build/bench-fa"
fsdd="$root/../shared/data/fsdd"
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --work) work=$(realpath -m -- "$2"); shift 2 ;;
    --snr) snr=$2; shift 2 ;;
    --fsdd) fsdd=$2; shift 2 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    -*) echo "bench/false_accepts.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$(realpath -m -- "$1")"); shift ;;
  esac
done
[[ "$minutes" =~ ^[0-9]+$ ]] && [ "$minutes" -ge 1 ] || { echo "bench/false_accepts.sh: --minutes must be a whole number >= 1" >&2; exit 2; }
BIN="$root/build/earshot"
[ -x "$BIN" ] || { echo "build first: ninja -C build" >&2; exit 1; }
for c in espeak-ng sox; do command -v $c >/dev/null || { echo "bench/false_accepts.sh: $c not found (scripts/setup.sh installs it)" >&2; exit 1; }; done
mkdir -p "$work"

# --- the speech: licence texts in 40-word pieces, voices and rates in turn
set_dir="$work/speech-$minutes"
if [ ! -f "$set_dir/done" ]; then
  rm -rf "$set_dir" && mkdir -p "$set_dir/pieces" "$set_dir/clean" "$set_dir/noisy"
  voices=(en-us en en+m3 en+f3 en-us+m7 en+f2 en-gb-x-rp en+m1)
  cat /usr/share/common-licenses/{GPL-3,Apache-2.0,MPL-2.0,GFDL-1.3,LGPL-2.1,Artistic,GPL-2} 2>/dev/null |
    tr -cs "A-Za-z'.,;:" ' ' | xargs -n 40 2>/dev/null | head -n 4000 > "$set_dir/text.txt"
  need=$((minutes * 60)) have=0 i=0
  while IFS= read -r line && [ "$have" -lt "$need" ]; do
    v=${voices[$((i % ${#voices[@]}))]}
    s=$((130 + (i * 37) % 61))
    f=$(printf '%s/pieces/%05d.wav' "$set_dir" "$i")
    espeak-ng -v "$v" -s "$s" -w "$f" "$line" 2>/dev/null
    have=$((have + $(soxi -D "$f" | cut -d. -f1) + 1))
    i=$((i + 1))
  done < "$set_dir/text.txt"
  [ "$have" -ge "$need" ] || { echo "bench/false_accepts.sh: the texts give only $have s of speech" >&2; exit 1; }
  # about 10-minute files (40 pieces of ~15 s) at 16 kHz
  ls "$set_dir"/pieces/*.wav > "$set_dir/list"
  split -l 40 -d "$set_dir/list" "$set_dir/chunk."
  for c in "$set_dir"/chunk.*; do
    n=${c##*.}
    args=()
    while IFS= read -r p; do args+=("$p"); done < "$c"
    sox -R "${args[@]}" -r 16000 -c 1 -b 16 "$set_dir/clean/talk_$n.wav"
    d=$(soxi -D "$set_dir/clean/talk_$n.wav")
    sox -R -n -r 16000 -c 1 -b 16 "$set_dir/pink.wav" synth "$d" pinknoise
    # noise at --snr dB under the speech's RMS
    rs=$(sox "$set_dir/clean/talk_$n.wav" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
    rn=$(sox "$set_dir/pink.wav" -n stat 2>&1 | awk '/RMS +amplitude/ {print $3}')
    g=$(awk -v s="$rs" -v n="$rn" -v db="$snr" 'BEGIN {printf "%.6f", s / n / 10 ^ (db / 20)}')
    sox -R -m "$set_dir/clean/talk_$n.wav" -v "$g" "$set_dir/pink.wav" "$set_dir/noisy/talk_$n.wav"
  done
  rm -f "$set_dir"/chunk.* "$set_dir/pink.wav"
  touch "$set_dir/done"
fi
hours=$(for f in "$set_dir"/clean/*.wav; do soxi -D "$f"; done | awk '{s += $1} END {printf "%.4f", s / 3600}')
echo "other speech: $(ls "$set_dir"/pieces | wc -l) pieces of licence text read by espeak-ng (8 voices), $hours h, clean and with pink noise at $snr dB SNR"

# --- real talk: FSDD, three speakers to train on, three held out
real=""
if [ "$fsdd" != none ] && [ -d "$fsdd" ]; then
  real="$work/fsdd-talk"
  if [ ! -f "$real/done" ]; then
    rm -rf "$real" && mkdir -p "$real/train" "$real/test"
    for part in "train george jackson lucas" "test nicolas theo yweweler"; do
      set -- $part
      # a fixed shuffle, and sox -R (its dither seeded): the same files on
      # every machine with these tools, byte for byte
      ls "$fsdd"/*_"$2"_*.wav "$fsdd"/*_"$3"_*.wav "$fsdd"/*_"$4"_*.wav |
        shuf --random-source=<(yes earshot) | split -l 500 -d - "$real/$1/list."
      for l in "$real/$1"/list.*; do
        args=()
        while IFS= read -r p; do args+=("$p"); done < "$l"
        sox -R "${args[@]}" -r 16000 -c 1 -b 16 "$real/$1/talk_${l##*.}.wav" 2>/dev/null
        rm -f "$l"
      done
    done
    touch "$real/done"
  fi
  real_h=$(for f in "$real"/test/*.wav; do soxi -D "$f"; done | awk '{s += $1} END {printf "%.4f", s / 3600}')
  train_h=$(for f in "$real"/train/*.wav; do soxi -D "$f"; done | awk '{s += $1} END {printf "%.4f", s / 3600}')
  echo "real talk: FSDD joined, george/jackson/lucas to train on ($train_h h), nicolas/theo/yweweler held out ($real_h h)"
else
  echo "real talk: no FSDD at $fsdd, so none (--fsdd DIR)"
fi

# --- the models
words="lights_on=lights on,lights_off=lights off,pause,play"
default=0
if [ ${#models[@]} -eq 0 ]; then
  default=1
  "$BIN" train -q "$root/samples/vocab" -o "$work/vocab.safetensors" >/dev/null
  "$BIN" train -q --words "$words" --data "$root/samples/vocab" -o "$work/mix.safetensors" >/dev/null
  models=("$work/vocab.safetensors" "$work/mix.safetensors")
  if [ -n "$real" ]; then
    "$BIN" train -q "$root/samples/vocab" --negatives "$real/train" -o "$work/vocab+negatives.safetensors" >/dev/null
    "$BIN" train -q --words "$words" --data "$root/samples/vocab" --negatives "$real/train" \
      -o "$work/mix+negatives.safetensors" >/dev/null
    models+=("$work/vocab+negatives.safetensors" "$work/mix+negatives.safetensors")
  fi
  # the words, for what the models miss: takes no model trained on
  [ -f "$work/words/done" ] || {
    rm -rf "$work/words"
    "$BIN" synth -q --words "$words" -n 100 --unknown 0 --seed 77 --formant 0.85:1.2 -o "$work/words" >/dev/null
    touch "$work/words/done"
  }
fi

printf '\n%-28s %-12s %10s %10s %10s\n' "model" "audio" "thr 0.5" "thr 0.7" "thr 0.9"
for m in "${models[@]}"; do
  name=$(basename "$m" .safetensors)
  # a label the text says is a true hit, not a false accept
  hits=0
  if [ -f "$m" ]; then
    for l in $(node -e '
      const b = require("fs").readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
      for (const l of JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.labels))
        if (!l.startsWith("_")) console.log(l);' "$m" 2>/dev/null); do
      k=$(grep -oiw -- "${l//_/ }" "$set_dir/text.txt" | wc -l || true)
      hits=$((hits + k))
    done
  fi
  for cond in clean noisy ${real:+real}; do
    dir="$set_dir/$cond" h=$hours label="espeak $cond"
    if [ "$cond" = real ]; then dir="$real/test" h=$real_h label="FSDD held-out"; fi
    row=()
    for t in 0.5 0.7 0.9; do
      n=$("$BIN" transcribe -q -m "$m" --threshold "$t" "$dir" | grep -c . || true)
      row+=("$(awk -v n="$n" -v h="$h" 'BEGIN {printf "%.1f/h", n / h}')")
    done
    printf '%-28s %-12s %10s %10s %10s\n' "$name" "$label" "${row[@]}"
  done
  if [ "$default" = 1 ]; then
    # the share of the 400 held-out takes each threshold misses
    "$BIN" eval --thresholds --json "$m" "$work/words" > "$work/eval.json"
    row=()
    for t in 0.5 0.7 0.9; do
      row+=("$(node -e '
        const s = JSON.parse(require("fs").readFileSync(process.argv[1])).sweep.rows.find(p => Math.abs(p.threshold - process.argv[2]) < 1e-9);
        console.log((100 * s.missed).toFixed(1) + "%")' "$work/eval.json" "$t")")
    done
    printf '%-28s %-12s %10s %10s %10s\n' "$name" "words missed" "${row[@]}"
  fi
  if [ "$hits" -gt 0 ]; then echo "  (the text says this model's words $hits times: those events may be true hits)"; fi
done
echo
echo "false accepts per hour: transcribe events on speech that never says the words (defaults: --smooth 5, --min-duration 0.24)"
