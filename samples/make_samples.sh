#!/usr/bin/env bash
# Synthesize the bundled sample clips with espeak-ng and sox.
#
# Every committed file in samples/ (except README.md and this script) is the
# output of this script. It is deterministic (same espeak-ng and sox versions
# -> same bytes: sox runs with -R, a fixed dither seed, and -D, no dither)
# and idempotent (each file is built in a temp dir and moved into place).
#
# Usage: samples/make_samples.sh        (from anywhere)

set -euo pipefail

# ---- parameters (tune here) -------------------------------------------------
VOICE="en-us"      # espeak-ng voice
SPEED=140          # words per minute (espeak-ng -s); 130..150 sounds natural
PITCH=50           # 0..99 (espeak-ng -p; 50 is its default)
AMPLITUDE=100      # 0..200 (espeak-ng -a; 100 is its default)
PAD_BEFORE=1.0     # seconds of silence before the speech
PAD_AFTER=0.75     # seconds of silence after the speech
# espeak-ng leaves ~0.4 s of its own silence at the end; trim everything
# quieter than this first so the padding above is exact.
TRIM_DB=-50

# name|text
CLIPS=(
    "hey_jarvis|hey jarvis"
    "alexa|alexa"
    "hey_mycroft|hey mycroft"
    "weather|what's the weather"
    "no_wake_word|please close the kitchen window"
)
# A stereo 44.1 kHz FLAC copy of this clip exercises decoding + resampling.
STEREO_FROM="hey_jarvis"
# ------------------------------------------------------------------------------

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "make_samples.sh: $tool not found" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# sox global options: -R repeatable (fixed seeds), -D no dither, -V1 errors only.
SOX=(sox -R -D -V1)

for clip in "${CLIPS[@]}"; do
    name="${clip%%|*}"
    text="${clip#*|}"
    espeak-ng -v "$VOICE" -s "$SPEED" -p "$PITCH" -a "$AMPLITUDE" -w "$tmp/$name.raw.wav" "$text"
    # trim leading/trailing silence, resample to 16 kHz (very high quality),
    # then pad: the trims use 5 ms above TRIM_DB as "speech starts".
    "${SOX[@]}" "$tmp/$name.raw.wav" -c 1 -b 16 -e signed-integer "$tmp/$name.wav" \
        silence 1 0.005 "${TRIM_DB}d" reverse silence 1 0.005 "${TRIM_DB}d" reverse \
        rate -v 16000 pad "$PAD_BEFORE" "$PAD_AFTER"
    mv -f "$tmp/$name.wav" "$here/$name.wav"
done

out="${STEREO_FROM}_stereo_44k.flac"
# Both channels carry the same signal, so the downmix equals the mono clip.
"${SOX[@]}" "$here/$STEREO_FROM.wav" --comment "" -c 2 -b 16 "$tmp/$out" rate -v 44100
mv -f "$tmp/$out" "$here/$out"

# ---- an example vocabulary for `earshot train` (README: "Adapt to a new
# vocabulary") ------------------------------------------------------------------
# vocab/<label>/<label>_<n>.flac: each word in 10 espeak-ng voices and speeds,
# plus _unknown_/ (other words the model must reject) and _background_noise_/
# (quiet generated pink and brown noise: the _silence_ class, so the model
# learns what no word sounds like). vocab_demo.flac says
# four of the words and one unknown word, 1.5 s apart, in a seventh voice that
# no training take uses, so the demo shows the model on an unheard voice.
VOCAB=("lights_on|lights on" "lights_off|lights off" "pause|pause" "play|play")
UNKNOWN_WORDS=("hello" "window" "later" "coffee" "seven" "music")
TRAIN_VOICES=("en-us+m1|130" "en-gb+f2|150" "en-gb-scotland+m3|140" "en-029+f4|160" "en-gb-x-rp+m5|120"
              "en-us+f1|170" "en-gb-x-gbclan+f3|135" "en-gb-x-gbcwmd+m2|155" "en-us+f3|145" "en-gb+m4|165")
DEMO_VOICE="en-us+m7"
DEMO_SPEED=145
DEMO_WORDS=("lights on" "play" "hello" "pause" "lights off")
DEMO_GAP=1.5

# one word -> 16 kHz mono FLAC, trimmed, 0.2 s of silence each side
say() {  # say VOICE SPEED TEXT OUT
    espeak-ng -v "$1" -s "$2" -w "$tmp/say.wav" "$3"
    "${SOX[@]}" "$tmp/say.wav" -c 1 -b 16 -e signed-integer "$tmp/say.flac" \
        silence 1 0.005 "${TRIM_DB}d" reverse silence 1 0.005 "${TRIM_DB}d" reverse \
        rate -v 16000 pad 0.2 0.2
    mv -f "$tmp/say.flac" "$4"
}
rm -rf "$here/vocab.new" && mkdir -p "$here/vocab.new/_unknown_"
for w in "${VOCAB[@]}"; do
    label="${w%%|*}"; text="${w#*|}"
    mkdir -p "$here/vocab.new/$label"
    n=0
    for v in "${TRAIN_VOICES[@]}"; do
        say "${v%%|*}" "${v#*|}" "$text" "$here/vocab.new/$label/${label}_$n.flac"
        n=$((n + 1))
    done
done
n=0
for text in "${UNKNOWN_WORDS[@]}"; do
    v="${TRAIN_VOICES[$n]}"
    say "${v%%|*}" "${v#*|}" "$text" "$here/vocab.new/_unknown_/${text}_$n.flac"
    n=$((n + 1))
done
mkdir -p "$here/vocab.new/_background_noise_"
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$here/vocab.new/_background_noise_/pink.flac" synth 3 pinknoise vol 0.02
"${SOX[@]}" -n -r 16000 -b 16 -c 1 "$here/vocab.new/_background_noise_/brown.flac" synth 3 brownnoise vol 0.05
rm -rf "$here/vocab" && mv "$here/vocab.new" "$here/vocab"
parts=()
i=0
for text in "${DEMO_WORDS[@]}"; do
    say "$DEMO_VOICE" "$DEMO_SPEED" "$text" "$tmp/demo_$i.flac"
    "${SOX[@]}" "$tmp/demo_$i.flac" "$tmp/demo_p$i.flac" pad 0 "$DEMO_GAP"
    parts+=("$tmp/demo_p$i.flac")
    i=$((i + 1))
done
"${SOX[@]}" "${parts[@]}" --comment "" "$tmp/vocab_demo.flac" pad 1.0 0
mv -f "$tmp/vocab_demo.flac" "$here/vocab_demo.flac"

cd "$here"
total=0
for f in "${CLIPS[@]%%|*}"; do
    f="$f.wav"
    printf '%-30s %6.2f s %7d bytes\n' "$f" "$(soxi -D "$f")" "$(stat -c %s "$f")"
    total=$((total + $(stat -c %s "$f")))
done
printf '%-30s %6.2f s %7d bytes\n' "$out" "$(soxi -D "$out")" "$(stat -c %s "$out")"
total=$((total + $(stat -c %s "$out")))
total=$((total + $(du -cb "$here/vocab" | tail -1 | cut -f1) + $(stat -c %s vocab_demo.flac)))
printf '%-30s %6.2f s %7d bytes\n' vocab_demo.flac "$(soxi -D vocab_demo.flac)" "$(stat -c %s vocab_demo.flac)"
echo "vocab/: $(find vocab -name '*.flac' | wc -l) files"
echo "total: $total bytes"
