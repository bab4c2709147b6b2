#!/bin/bash
# Seed corpora for the libFuzzer targets, generated rather than committed:
#
#   fuzz/make_corpus.sh [onnx|audio|npy|safetensors|words|speakers|manifest ...]   (default: all)
#
# onnx:  the 9 ONNX models from the models directory ($EARSHOT_MODELS, else
#        $XDG_CACHE_HOME/earshot/models, else ~/.cache/earshot/models), and
#        small heads written by fuzz/gen_onnx_seeds.c (valid and hostile).
# audio: the WAV/FLAC clips in samples/, plus small sox-made files in other
#        encodings (8-bit, 24-bit, float, Ogg Vorbis, AIFF, AU) and a few
#        raw byte patterns for the raw-PCM path.
# npy:   small float32 .npy files of several shapes and a few near misses.
# safetensors: small .safetensors files (F32 of 0 to 4 dimensions with
#        metadata, F16/BF16/F64, empty and zero-size tensors, an unpadded
#        header) and a few near misses.
#
# speakers: speaker profiles made by `earshot enroll` (build/earshot, or
#        $EARSHOT_BIN) from the clips in samples/ (needs the models), and
#        near misses of them (a newer version, another representation), one
#        with a background.
# manifest: a few @list files (CRLF, comments, white space, a NUL byte).
#
# Files go to fuzz/corpus-TARGET/ (gitignored); existing files are kept, so
# whatever libFuzzer has found so far stays in the corpus.
set -euo pipefail
cd "$(dirname -- "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx audio npy safetensors words speakers manifest)

models="${EARSHOT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot/models}"

seed_onnx() {
  local d=fuzz/corpus-onnx n=0
  mkdir -p "$d"
  for f in "$models"/*.onnx; do
    [ -f "$f" ] || continue
    cp -f "$f" "$d/seed-$(basename "$f")"
    n=$((n + 1))
  done
  [ $n -gt 0 ] || { echo "make_corpus: no .onnx models in $models (run scripts/fetch-models.sh)" >&2; return 1; }
  echo "make_corpus: onnx: $n models from $models"
  # Small generated heads (fuzz/onnx_gen.h): a few hundred bytes each, so
  # libFuzzer mutates them a thousand times faster than the 1 MB models.
  local gen
  gen="$(mktemp -d)"
  "${CC:-cc}" -std=c11 -O1 -o "$gen/gen_onnx_seeds" fuzz/gen_onnx_seeds.c
  "$gen/gen_onnx_seeds" "$d"
  rm -rf "$gen"
}

seed_audio() {
  local d=fuzz/corpus-audio n=0
  mkdir -p "$d"
  for f in samples/*.wav samples/*.flac; do
    [ -f "$f" ] || continue
    cp -f "$f" "$d/seed-$(basename "$f")"
    n=$((n + 1))
  done
  if command -v sox >/dev/null; then
    # Short clips keep each run fast; the formats are what matters.
    sox -n -r 16000 -c 1 -b 8 -e unsigned "$d/seed-u8.wav" synth 0.2 sine 440 vol 0.5
    sox -n -r 22050 -c 2 -b 24 "$d/seed-s24-stereo.wav" synth 0.2 sine 300 sine 500 vol 0.5
    sox -n -r 8000 -c 1 -b 32 -e floating-point "$d/seed-f32.wav" synth 0.2 pinknoise vol 0.3
    sox -n -r 48000 -c 2 "$d/seed-vorbis.ogg" synth 0.3 sine 1000 vol 0.5
    sox -n -r 44100 -c 1 -b 16 "$d/seed-s16.aiff" synth 0.1 sine 200 vol 0.5
    sox -n -r 11025 -c 1 -b 16 "$d/seed-s16.au" synth 0.1 sine 200 vol 0.5
    sox -n -r 16000 -c 1 -b 16 "$d/seed-short.flac" synth 0.1 whitenoise vol 0.2
    # Cut short (the data chunk promises more than the file holds): the
    # reader's own walk over the chunks warns of these.
    sox -n -r 16000 -c 1 -b 16 "$d/seed-cut.tmp.wav" synth 0.1 sine 300 vol 0.5
    head -c 1000 "$d/seed-cut.tmp.wav" >"$d/seed-cut.wav"
    sox -n -r 16000 -c 1 -b 16 "$d/seed-cut.tmp.aiff" synth 0.1 sine 300 vol 0.5
    head -c 1000 "$d/seed-cut.tmp.aiff" >"$d/seed-cut.aiff"
    rm -f "$d/seed-cut.tmp.wav" "$d/seed-cut.tmp.aiff"
    n=$((n + 9))
  else
    echo "make_corpus: sox not found; only samples/ seeds for audio" >&2
  fi
  # Raw PCM: the first byte picks the format, the rest is the stream.
  printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b' >"$d/seed-raw-s16"
  printf '\x05\x00\x00\x80\x3f\x00\x00\x00\xbf\x00\x00\x00\x00' >"$d/seed-raw-f32"
  head -c 4001 /dev/zero | tr '\0' '\003' >"$d/seed-raw-long"
  echo "make_corpus: audio: $((n + 3)) files"
}

# npy FILE SHAPE COUNT [DESCR] [FORTRAN] — a v1.0 .npy of COUNT floats 1.0, 2.0, ...
npy() {
  local file="$1" shape="$2" count="$3" descr="${4:-<f4}" fortran="${5:-False}"
  local dict="{'descr': '$descr', 'fortran_order': $fortran, 'shape': ($shape), }"
  local total=$((10 + ${#dict} + 1)) pad hl
  pad=$(((64 - total % 64) % 64))
  hl=$((${#dict} + 1 + pad))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8)))"
    printf '%s%*s\n' "$dict" "$pad" ''
    # float32 little-endian 1.0 (0x3f800000) and 2.0 (0x40000000), alternating
    local i
    for ((i = 0; i < count; i++)); do
      if ((i % 2)); then printf '\x00\x00\x00\x40'; else printf '\x00\x00\x80\x3f'; fi
    done
  } >"$file"
}

seed_words() {
  local d=fuzz/corpus-words
  mkdir -p "$d"
  printf '%s' 'lights on,lights off,pause' >"$d/seed-plain"
  printf '%s' '0=zero|oh,1=one,2=two' >"$d/seed-labels"
  printf '%s' "kaffee=[[k'af@]]|coffee,tee=[[t'e:]]" >"$d/seed-phonemes"
  printf '%s' "x=[[s 'E v @ n]],y=[[l'aIts '0n]]" >"$d/seed-spaced"
  printf '%s' ' a , b=[[x,y]] ,c=|d' >"$d/seed-odd"
  echo "make_corpus: words: 5 files"
}

seed_npy() {
  local d=fuzz/corpus-npy
  mkdir -p "$d"
  npy "$d/seed-1d.npy" "5," 5
  npy "$d/seed-2d.npy" "3, 4" 12
  npy "$d/seed-3d.npy" "2, 2, 3" 12
  npy "$d/seed-scalar.npy" "" 1
  npy "$d/seed-empty.npy" "0," 0
  npy "$d/seed-emb.npy" "4, 96" 384
  npy "$d/seed-f8.npy" "2," 4 "<f8"
  npy "$d/seed-fortran.npy" "2, 2" 4 "<f4" True
  echo "make_corpus: npy: 8 files"
}

# st FILE JSON [DATA] [PAD] — a .safetensors file: u64 header length, the
# JSON (padded with spaces to an 8-byte boundary unless PAD is 0), then DATA
# (a printf format of \x escapes).
st() {
  local LC_ALL=C
  local file="$1" json="$2" data="${3:-}" pad n k
  pad=$(((8 - ${#json} % 8) % 8))
  [ "${4:-1}" = 1 ] || pad=0
  n=$((${#json} + pad))
  {
    for ((k = 0; k < 8; k++)); do printf "\\x$(printf %02x $(((n >> (8 * k)) & 255)))"; done
    printf '%s%*s' "$json" "$pad" ''
    printf "$data"
  } >"$file"
}

seed_safetensors() {
  local d=fuzz/corpus-safetensors one='\x00\x00\x80\x3f' two='\x00\x00\x00\x40' i w=''
  mkdir -p "$d"
  st "$d/seed-f32.safetensors" \
    '{"__metadata__":{"labels":"[\"on\",\"off\"]","window":"16"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' \
    "$one$two$one$two$one$two"
  st "$d/seed-dims.safetensors" \
    '{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1,2,1,2],"data_offsets":[4,20]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[20,20]}}' \
    "$one$two$one$two$one"
  st "$d/seed-dtypes.safetensors" \
    '{"a":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},"c":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}' \
    '\x00\x00\x00\x00\x00\x00\xf8\x3f\x00\x00\x00\x00\x00\x00\xf0\xff\x00\x00\x80\x3f\xc0\x3f\x40\xc0\x00\x3c\x01\x00'
  st "$d/seed-empty.safetensors" '{}'
  st "$d/seed-meta-only.safetensors" '{"__metadata__":{"k":"v \u00e9\n","":""}}'
  st "$d/seed-unpadded.safetensors" '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$one" 0
  for ((i = 0; i < 136; i++)); do w="$w$one"; done
  # trained earshot models (frozen, --finetune, --scratch) reach deep into
  # the model-card reader: copied from $EARSHOT_FUZZ_MODELS when set
  if [ -n "${EARSHOT_FUZZ_MODELS:-}" ]; then
    for i in "$EARSHOT_FUZZ_MODELS"/*.safetensors; do [ -f "$i" ] && cp "$i" "$d/model-$(basename "$i")"; done
  fi
  st "$d/seed-head.safetensors" \
    '{"__metadata__":{"arch":"gemm"},"head.0.weight":{"dtype":"F32","shape":[16,8],"data_offsets":[0,512]},"head.0.bias":{"dtype":"F32","shape":[8],"data_offsets":[512,544]}}' \
    "$w"
  # near misses: unsupported dtype, gap, overlap, duplicate name, bad metadata
  st "$d/seed-i64.safetensors" '{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}' "$one$one"
  st "$d/seed-gap.safetensors" \
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}' "$one$one$one"
  st "$d/seed-overlap.safetensors" \
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}' "$one$one$one"
  st "$d/seed-dup.safetensors" \
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' "$one$one"
  st "$d/seed-meta-num.safetensors" '{"__metadata__":{"k":1}}'
  echo "make_corpus: safetensors: 12 files"
}

seed_speakers() {
  local d=fuzz/corpus-speakers bin="${EARSHOT_BIN:-build/earshot}"
  mkdir -p "$d"
  [ -x "$bin" ] || { echo "make_corpus: speakers: $bin not built (ninja -C build, or set EARSHOT_BIN)" >&2; return 1; }
  rm -f "$d/seed-one.safetensors" "$d/seed-three.safetensors"
  "$bin" enroll -q -n one -p "$d/seed-one.safetensors" samples/hey_jarvis.wav >/dev/null
  "$bin" enroll -q -n "a b" -p "$d/seed-three.safetensors" samples/alexa.wav samples/weather.wav >/dev/null
  "$bin" enroll -q -n c -p "$d/seed-three.safetensors" samples/hey_mycroft.wav >/dev/null
  "$bin" enroll -q -n d -p "$d/seed-three.safetensors" samples/no_wake_word.wav >/dev/null
  # with a background (two "speakers" of two sample clips each)
  local bg
  bg="$(mktemp -d)"
  mkdir -p "$bg/a" "$bg/b"
  cp samples/alexa.wav samples/weather.wav "$bg/a/"
  cp samples/hey_jarvis.wav samples/hey_mycroft.wav "$bg/b/"
  rm -f "$d/seed-background.safetensors"
  "$bin" enroll -q -n one -p "$d/seed-background.safetensors" --background "$bg" samples/hey_jarvis.wav >/dev/null
  rm -rf "$bg"
  # near misses of the same length: a newer version, another representation
  sed 's/"earshot.profile_version":"3"/"earshot.profile_version":"4"/' "$d/seed-one.safetensors" > "$d/seed-newer.safetensors"
  sed 's/\\"dim\\":340/\\"dim\\":341/' "$d/seed-one.safetensors" > "$d/seed-repr.safetensors"
  echo "make_corpus: speakers: 5 files"
}

seed_manifest() {
  local d=fuzz/corpus-manifest
  mkdir -p "$d"
  printf 'a.wav\nsub/b.flac\n' >"$d/seed-plain"
  printf '# recordings\r\n\r\n  /abs/c.wav  \r\n\t@other.txt\n#x\nlast' >"$d/seed-crlf"
  printf 'a.wav\nbad\0name\n' >"$d/seed-nul"
  printf '\n\n\n   \n#\n' >"$d/seed-empty"
  echo "make_corpus: manifest: 4 files"
}

for t in "${targets[@]}"; do
  case "$t" in
    onnx) seed_onnx ;;
    audio) seed_audio ;;
    npy) seed_npy ;;
    safetensors) seed_safetensors ;;
    words) seed_words ;;
    speakers) seed_speakers ;;
    manifest) seed_manifest ;;
    *) echo "usage: $0 [onnx|audio|npy|safetensors|words|speakers|manifest ...]" >&2; exit 2 ;;
  esac
done
