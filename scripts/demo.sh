#!/bin/bash
# Set up everything, then detect wake words in the sample recordings and,
# without FILEs, adapt earshot to the example vocabulary: train a model on
# samples/vocab/ and transcribe samples/vocab_demo.flac (a voice the
# training takes do not have) with it, and draw what each model heard
# (its score track, transcribe -osvg) into build/demo/.
#
#   scripts/demo.sh [--models DIR] [FILE.wav...]
#
# Without files it scans samples/*.wav. The wake-word heads are openWakeWord's
# pretrained models (CC BY-NC-SA 4.0), fetched by the set-up. The trained
# model goes to a temporary folder, removed at the end.
set -euo pipefail

models=""
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --models) [ $# -ge 2 ] || { echo "usage: $0 [--models DIR] [FILE.wav...]" >&2; exit 2; }
              models="$2"; shift 2 ;;
    --models=*) models="${1#--models=}"; shift ;;
    -h|--help) echo "usage: $0 [--models DIR] [FILE.wav...]"; exit 0 ;;
    -*) echo "earshot demo: unknown option $1" >&2; echo "usage: $0 [--models DIR] [FILE.wav...]" >&2; exit 2 ;;
    *) files+=("$(realpath -m -- "$1")"); shift ;;
  esac
done
. "$(dirname -- "$0")/paths.sh"
es_resolve_paths "$models"
bash scripts/setup.sh --models "$EARSHOT_MODELS"

given="${files[*]}"
if [ ${#files[@]} -eq 0 ]; then
  shopt -s nullglob
  files=(samples/*.wav)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || { echo "earshot demo: no samples/*.wav to scan" >&2; exit 1; }
fi
echo "earshot demo: build/earshot detect --model hey_jarvis --model alexa --model weather ${files[*]}"
if [ -n "$given" ]; then
  exec build/earshot detect --model hey_jarvis --model alexa --model weather "${files[@]}"
fi
build/earshot detect --model hey_jarvis --model alexa --model weather "${files[@]}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo
echo "earshot demo: build/earshot train samples/vocab -o vocab.safetensors"
build/earshot train samples/vocab -o "$tmp/vocab.safetensors"
echo
echo "earshot demo: build/earshot transcribe -m vocab.safetensors samples/vocab_demo.flac"
echo "(the recording says: lights on, play, hello, pause, lights off; start, end, word, score)"
build/earshot transcribe -m "$tmp/vocab.safetensors" samples/vocab_demo.flac
# Ten takes per word leave the model guessing at the onsets of some words
# (the README shows and explains it); synthesised takes of the same words
# mixed with the recordings give it more to go on.
words="lights_on=lights on,lights_off=lights off,pause,play"
echo
echo "earshot demo: build/earshot train --words \"$words\" --data samples/vocab -o mix.safetensors"
build/earshot train --words "$words" --data samples/vocab -o "$tmp/mix.safetensors"
echo
echo "earshot demo: build/earshot transcribe -m mix.safetensors samples/vocab_demo.flac"
build/earshot transcribe -m "$tmp/mix.safetensors" samples/vocab_demo.flac
# What each model heard: its score track as a chart (-osvg), one per model.
echo
for m in vocab mix; do
  build/earshot transcribe -q -m "$tmp/$m.safetensors" -osvg -d "build/demo/$m" samples/vocab_demo.flac
done
echo "earshot demo: the score tracks (transcribe -osvg): build/demo/vocab/vocab_demo.svg and build/demo/mix/vocab_demo.svg"
