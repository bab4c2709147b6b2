#!/bin/bash
# Build and run one libFuzzer target for a given time.
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER ARGS...]
#
# TARGET is onnx, audio, npy, safetensors, words, speakers or manifest (fuzz/fuzz_TARGET.c). The target and the
# library sources it exercises are compiled here with clang and
# -fsanitize=fuzzer,address,undefined into build-fuzz/ (no meson set-up, so
# a half-edited unrelated file elsewhere in the tree cannot break it). The
# corpus is fuzz/corpus-TARGET/, seeded by fuzz/make_corpus.sh when missing;
# crash, leak, timeout and OOM inputs go to fuzz/crash-TARGET/. Both are
# gitignored.
#
# Prints libFuzzer's final stats and says whether a crash file appeared;
# exits non-zero if one did or libFuzzer failed. Reproduce a crash with
#   build-fuzz/fuzz_TARGET fuzz/crash-TARGET/crash-...
set -euo pipefail

# Everything runs inside main, which bash reads whole before running: an
# edit to this file during a long run cannot change the run mid-way.
main() {
usage() { echo "usage: $0 onnx|audio|npy|safetensors|words|speakers|manifest SECONDS [LIBFUZZER ARGS...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
target="$1"; secs="$2"; shift 2
case "$target" in onnx|audio|npy|safetensors|words|speakers|manifest) ;; *) usage ;; esac
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || usage

cd "$(dirname -- "$0")/.."
root="$(pwd -P)"
CC="${CC:-clang}"
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (install clang and libclang-rt-dev)" >&2; exit 1; }

out="$root/build-fuzz"
mkdir -p "$out/obj-$target"
# model/status.c includes es_commit.h, which meson's vcs_tag writes into
# build/; write the same here
# (as meson.build: only a checkout of earshot itself, not a copy inside
# another repository)
commit=$(cd "$root" && [ -z "$(git rev-parse --show-prefix 2>/dev/null)" ] &&
         git describe --always --dirty --abbrev=12 2>/dev/null) || commit=unknown
sed "s|@ES_COMMIT@|$commit|" model/commit.h.in >"$out/es_commit.h"
pkgs="sndfile samplerate kissfft-float openblas libcjson portaudio-2.0 espeak-ng"
cflags=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
        -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$root/include" -I"$out"
        $(pkg-config --cflags $pkgs))
# UBSan findings must stop the run like ASan's, or libFuzzer never saves them.
san=(-fsanitize=address,undefined -fno-sanitize-recover=all)
libs=($(pkg-config --libs $pkgs) -lflite_cmu_us_kal -lflite_cmu_us_kal16 -lflite_cmu_us_slt -lflite_cmu_us_rms
      -lflite_cmu_us_awb -lflite_cmulex -lflite_usenglish -lflite -lm -lpthread)
# The engine and the model-card reader reach most of the library (train.c,
# the caches, augmentation, synthesis behind train --words): link every
# library source, listed once in meson.build, rather than a hand-kept subset.
mapfile -t srcs < <(sed -n "/^lib_sources = files(/,/^)/p" meson.build | grep -o "'[^']*\.c'" | tr -d "'")
# words: the --words parser and phoneme helpers need only themselves and
# what status.c calls (es_blas_init, from es_threads and es_set_threads)
[ "$target" != words ] || srcs=(model/status.c model/blas.c model/rng.c pipeline/vocab.c)

echo "fuzz: building build-fuzz/fuzz_$target with $CC"
objs=()
for s in "${srcs[@]}"; do
  o="$out/obj-$target/$(basename "${s%.c}").o"
  "$CC" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o"
  objs+=("$o")
done
"$CC" "${cflags[@]}" "${san[@]}" -fsanitize=fuzzer "fuzz/fuzz_$target.c" "${objs[@]}" "${libs[@]}" \
  -o "$out/fuzz_$target"

corpus="fuzz/corpus-$target"
if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
  echo "fuzz: seeding $corpus"
  bash fuzz/make_corpus.sh "$target"
fi
crashdir="fuzz/crash-$target"
mkdir -p "$crashdir"
before="$(ls "$crashdir" | wc -l)"

extra=()
case "$target" in
  onnx) maxlen=2000000      # the embedding model is 1.3 MB, silero_vad 1.8 MB
        extra=(-dict=fuzz/onnx.dict) ;;
  audio) maxlen=262144 ;;   # a few seconds of audio; resampling longer is slow
  npy) maxlen=65536 ;;
  safetensors) maxlen=65536 ;;
  words) maxlen=4096 ;;
  speakers) maxlen=600000 ;; # a profile with a background is about 480 KB (the background is 340 x 340 floats)
  manifest) maxlen=8192 ;;
esac
log="$out/fuzz_$target.log"
echo "fuzz: running $target for $secs s (log: build-fuzz/fuzz_$target.log)"
status=0
OPENBLAS_NUM_THREADS=1 \
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$out/fuzz_$target" -max_total_time="$secs" -max_len="$maxlen" -rss_limit_mb=4096 -timeout=30 \
  -artifact_prefix="$crashdir/" -print_final_stats=1 "${extra[@]}" "$@" "$corpus" >"$log" 2>&1 || status=$?

grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1 || true
grep -E '^stat::' "$log" || true
after="$(ls "$crashdir" | wc -l)"
new=$((after - before))
if [ "$new" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "fuzz: $target: FAILED: libFuzzer exit status $status, $new new file(s) in $crashdir/:"
  ls -t "$crashdir" | head -n "$((new > 0 ? new : 1))" | sed 's/^/  /'
  grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -n 5 || true
  exit 1
fi
echo "fuzz: $target: no crash, leak or timeout in $secs s"
}
main "$@"
exit
