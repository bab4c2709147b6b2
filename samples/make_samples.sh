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

cd "$here"
total=0
for f in "${CLIPS[@]%%|*}"; do
    f="$f.wav"
    printf '%-30s %6.2f s %7d bytes\n' "$f" "$(soxi -D "$f")" "$(stat -c %s "$f")"
    total=$((total + $(stat -c %s "$f")))
done
printf '%-30s %6.2f s %7d bytes\n' "$out" "$(soxi -D "$out")" "$(stat -c %s "$out")"
total=$((total + $(stat -c %s "$out")))
echo "total: $total bytes"
