#!/bin/bash
# make_words.sh DIR: other (non-keyword) speech for the long-form set with
# espeak-ng: DIR/train/ (30 words x 5 voices, the _unknown_ class) and
# DIR/test/ (10 other words x 2 voices, only in the long files).
set -eu
mkdir -p "$1/train" "$1/test"
for w in hello table window garden yellow music coffee paper river summer water green house letter people \
         simple button purple travel money sister doctor winter monkey pencil ticket basket rocket candle shadow; do
    for v in en en-us en+m3 en+f3 en+f4; do espeak-ng -v "$v" -s 150 -w "$1/train/${w}_$v.wav" "$w"; done
done
for w in computer morning happy orange station picture dinner silver forest kitchen; do
    for v in en-us en+f3; do espeak-ng -v "$v" -s 160 -w "$1/test/${w}_$v.wav" "$w"; done
done
