#!/bin/bash
# Under an address-space limit (ulimit -v) every command either works,
# with the outputs it gives without one, or exits 1 with an "out of
# memory" that names the limit and leaves no output behind: never a hang
# (OpenBLAS retried the mmap of a 128 MB work buffer forever, at 100% CPU,
# from 150 MB up to about 450 MB on 2 cores, `earshot version` included),
# never a crash. Each run gets `timeout`, far above the second or so it
# takes, so a loaded machine cannot fail it; which of "works" and "out of
# memory" a limit gives may vary with the machine, so both pass, except at
# the ends: 150 MB leaves no room for any buffer (the libraries alone map
# about 90 MB), and 500 MB is plenty for one file. Exits 77 (skipped)
# without the pretrained models, and in a sanitizer build, whose shadow
# memory no such limit holds.
set -u
. "$(dirname -- "$0")/lib.sh"
if [ "${EARSHOT_SANITIZE:-none}" != none ]; then
    echo "SKIP: a sanitizer build cannot run under ulimit -v"
    exit 77
fi
cli_test_begin
S=${EARSHOT_SRC:?run through meson test}/samples
TMO=60

cp -r "$S/vocab" "$T/vocab"
# the outputs without a limit, to compare with
expect 0 "transcribe without a limit" -- "$BIN" transcribe -q -m alexa "$S/alexa.wav"
cp "$T/out" "$T/tx.ref"
has "$T/tx.ref" alexa "... finds alexa"
expect 0 "embed without a limit" -- "$BIN" embed -q "$S/alexa.wav" -o "$T/emb.ref"
expect 0 "train without a limit" -- "$BIN" train -q "$T/vocab" -o "$T/ref.safetensors" --epochs 5
expect 0 "eval without a limit" -- "$BIN" eval -q "$T/ref.safetensors" "$T/vocab"
cp "$T/out" "$T/eval.ref"

# limited MB WHAT -- command...: run under ulimit -v; exit status in $rc
limited() {
    local mb=$1 what=$2; shift 3
    (ulimit -v $((mb * 1024)) && exec timeout -k 5 $TMO "$@") >"$T/out" 2>"$T/err"
    rc=$?
    case $rc in
    0) ;;
    1) if grep -q "out of memory.*address-space limit $mb MB" "$T/err"; then ok "$what at $mb MB: out of memory, exit 1"
       else bad "$what at $mb MB: exit 1 without the out-of-memory message: $(head -c 300 "$T/err")"; fi ;;
    124|137) bad "$what at $mb MB: hung (killed by timeout after $TMO s)" ;;
    *) bad "$what at $mb MB: exit $rc: $(head -c 300 "$T/err")" ;;
    esac
}

for mb in 150 250 350 500; do
    limited $mb "version" -- "$BIN" version
    [ $rc = 0 ] && ok "version at $mb MB works" || bad "version at $mb MB: exit $rc"

    limited $mb "transcribe" -- "$BIN" transcribe -q -m alexa "$S/alexa.wav"
    if [ $rc = 0 ]; then
        cmp -s "$T/out" "$T/tx.ref" && ok "transcribe at $mb MB: the transcript of no limit" || bad "transcribe at $mb MB: $(cat "$T/out")"
    fi
    [ $mb = 150 ] && { [ $rc = 1 ] && has "$T/err" "no room for OpenBLAS's 128 MB work buffer" "transcribe at 150 MB says why"; }
    [ $mb = 500 ] && { [ $rc = 0 ] && ok "transcribe at 500 MB works" || bad "transcribe at 500 MB: exit $rc"; }

    rm -rf "$T/emb"
    limited $mb "embed" -- "$BIN" embed -q "$S/alexa.wav" -o "$T/emb"
    if [ $rc = 0 ]; then
        cmp -s "$T/emb/alexa.npy" "$T/emb.ref/alexa.npy" && ok "embed at $mb MB: the embeddings of no limit" || bad "embed at $mb MB: other embeddings"
    else
        [ -z "$(ls -A "$T/emb" 2>/dev/null)" ] && ok "embed at $mb MB: nothing left behind" || bad "embed at $mb MB left $(ls "$T/emb")"
    fi

    rm -f "$T/m.safetensors"*
    limited $mb "train" -- "$BIN" train -q "$T/vocab" -o "$T/m.safetensors" --epochs 5
    if [ $rc = 0 ]; then
        cmp -s "$T/m.safetensors" "$T/ref.safetensors" && ok "train at $mb MB: the model of no limit" || bad "train at $mb MB: another model"
    else
        [ -z "$(ls "$T" | grep '^m\.safetensors')" ] && ok "train at $mb MB: no model, no temporary file" || bad "train at $mb MB left $(ls "$T" | grep '^m\.')"
    fi

    limited $mb "eval" -- "$BIN" eval -q "$T/ref.safetensors" "$T/vocab"
    if [ $rc = 0 ]; then
        cmp -s "$T/out" "$T/eval.ref" && ok "eval at $mb MB: the report of no limit" || bad "eval at $mb MB: another report"
    fi
done

# Between "no room for a buffer" and "works" lie limits where a buffer
# fits and some later allocation does not: that out of memory must name
# the limit too (it said only "out of memory" or "es_encoder_full: out
# of memory", on a machine with gigabytes free). Where exactly depends on
# the machine, so a range, in steps.
for mb in $(seq 200 6 290); do
    rm -rf "$T/emb"
    limited $mb "embed" -- "$BIN" embed -q "$S/alexa.wav" "$S/weather.wav" -o "$T/emb"
    [ $rc = 1 ] && [ -n "$(ls "$T/emb" 2>/dev/null | grep -v '^alexa\.npy$\|^weather\.npy$')" ] && bad "embed at $mb MB left $(ls "$T/emb")"
    rm -f "$T/m.safetensors"*
    limited $mb "train" -- "$BIN" train -q "$T/vocab" -o "$T/m.safetensors" --epochs 5
    [ $rc = 1 ] && [ -n "$(ls "$T" | grep '^m\.safetensors')" ] && bad "train at $mb MB left $(ls "$T" | grep '^m\.')"
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
