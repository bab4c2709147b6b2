#!/bin/bash
# The long-form test of issue 4, built by the test itself: a model trained
# with `earshot train` on FSDD digits of four speakers (plus other words
# from espeak-ng as _unknown_ and noise as _silence_), then `earshot
# transcribe` over long files in which the two held-out speakers' digits
# and other (unseen) words sit at known times in background noise.
# Reports event precision / recall / F1 (label matches, centre within 0.5 s)
# and the mean absolute start error, and asserts sane bounds (F1 >= 0.85,
# start error <= 120 ms; the F1 target of 0.90 is measured by
# bench/longform.sh on a larger set). Skips (77) without the models, FSDD or espeak-ng.
set -u
TOOL=${EARSHOT_LONGFORM_TOOL:?run through meson test}
FSDD=${EARSHOT_FSDD:-}
[ -n "$FSDD" ] && [ -f "$FSDD/0_theo_0.wav" ] || { echo "SKIP: FSDD not found at ${FSDD:-../shared/data/fsdd}"; exit 77; }
. "$(dirname -- "$0")/lib.sh"
cli_test_begin espeak-ng

# other speech: training words and (disjoint) words only in the long files
"$(dirname -- "$0")/make_words.sh" "$T/words" || { echo "FAIL espeak-ng words"; exit 1; }
expect 0 "build the long-form set" -- "$TOOL" make "$FSDD" "$T/words" "$T/set" --files 3 --seconds 60 --takes 8
n_truth=$(cat "$T"/set/long/*.tsv | grep -vc '^#')
[ "$n_truth" -ge 40 ] && ok "$n_truth keyword occurrences in 3 minutes" || bad "only $n_truth keywords placed"

# a 10-embedding window (1.5 s) keeps neighbouring words out of the window
expect 0 "train on the training speakers" -- "$BIN" train -q "$T/set/train" -o "$T/digits.safetensors" --window 10 --pad-to 1.6
expect 0 "transcribe the long files" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 -ojson "$T/set/long"
cp "$T/out" "$T/events.jsonl"
[ "$(wc -l <"$T/events.jsonl")" = 3 ] && ok "one JSON line per file" || bad "JSON Lines: $(wc -l <"$T/events.jsonl") lines"
"$TOOL" score "$T/set/long" "$T/events.jsonl" --min-f1 0.85 --max-start-err 0.12 >"$T/score"
rc=$?
echo "long-form: $(cat "$T/score")"
[ $rc = 0 ] && ok "event F1 >= 0.85 and start error <= 120 ms" || bad "long-form metrics below the bounds: $(cat "$T/score")"

# eval --thresholds holds its suggestion out: chosen on half the clips
# (each label's clips in path order, taken in turn), counted on the other.
# Each half's own suggestion, from eval of just that half, must be the
# threshold it names for that half.
# (the training speakers' digits; only their consistency is checked here)
for d in 0 1 2 3 4 5 6 7 8 9; do
    mkdir -p "$T/ev/$d" "$T/ev0/$d" "$T/ev1/$d"
    for f in $(cd "$T/set/train/$d" && ls | LC_ALL=C sort); do ln -s "$T/set/train/$d/$f" "$T/ev/$d/$f"; done
    (cd "$T/ev/$d" && ls | LC_ALL=C sort | awk '{ print (NR - 1) % 2 " " $0 }') | while read -r h f; do
        ln -s "$T/set/train/$d/$f" "$T/ev$h/$d/$f"
    done
done
for d in ev ev0 ev1; do
    expect 0 "eval --thresholds --json of $d" -- "$BIN" eval -q --json --thresholds "$T/digits.safetensors" "$T/$d"
    cp "$T/out" "$T/$d.json"
done
sug() { node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1])).sweep.suggested[0]))' "$1"; }
node -e '
  const rd = f => JSON.parse(require("fs").readFileSync(f)).sweep.suggested[0];
  const a = rd(process.argv[1]), h0 = rd(process.argv[2]), h1 = rd(process.argv[3]), h = a.held_out;
  process.exit(a.enough_clips && h && h.found && h.thresholds[0] === h0.threshold && h.thresholds[1] === h1.threshold &&
    h.worst_false >= 0 && h.worst_false <= 1 && h.missed >= 0 && h.missed <= 1 ? 0 : 1)' "$T/ev.json" "$T/ev0.json" "$T/ev1.json" &&
    ok "eval --thresholds held out: each half chooses what eval of that half alone suggests: $(sug "$T/ev.json")" ||
    bad "held-out suggestion $(sug "$T/ev.json"); the halves alone: $(sug "$T/ev0.json") $(sug "$T/ev1.json")"

# the model was trained on 2 s clips with --pad-to 1.6, too short for its
# 5 window positions of 10 on a raw FSDD clip (0.3-0.8 s): eval pads such
# clips as far as the positions need instead of refusing them
mkdir -p "$T/raw"
for f in "$FSDD"/[0-9]_theo_[0-4].wav "$FSDD"/[0-9]_yweweler_[0-4].wav; do ln -s "$f" "$T/raw/"; done
expect 0 "eval raw FSDD clips of the held-out speakers" -- "$BIN" eval -q --pattern '{label}_{speaker}_{take}' \
    "$T/digits.safetensors" "$T/raw"
acc=$(awk '/accuracy/ {print $4; exit}' "$T/out") n=$(awk '/accuracy/ {print $1; exit}' "$T/out")
[ "$n" = 100 ] && awk -v a="$acc" 'BEGIN {exit !(a >= 0.8)}' && ok "... all $n scored, accuracy $acc >= 0.8" ||
    bad "raw clips: $n scored, accuracy $acc"

# the same events whatever the read and block sizes (the detector's invariance, end to end)
expect 0 "transcribe with one-chunk encoder steps" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --block 1 -ojson "$T/set/long"
cmp -s "$T/out" "$T/events.jsonl" && ok "block 1 and block 16 give byte-identical transcripts" ||
    bad "block sizes differ: $(diff "$T/out" "$T/events.jsonl" | head -c 400)"

# early decisions (what a live listener uses): as good, and byte-identical across block sizes too
expect 0 "transcribe --early" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --early -ojson "$T/set/long"
cp "$T/out" "$T/early.jsonl"
"$TOOL" score "$T/set/long" "$T/early.jsonl" --min-f1 0.85 --max-start-err 0.12 >"$T/score_e"
rc=$?
echo "long-form, --early: $(cat "$T/score_e")"
[ $rc = 0 ] && ok "--early: event F1 >= 0.85 and start error <= 120 ms" || bad "--early metrics: $(cat "$T/score_e")"
expect 0 "transcribe --early --block 1" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --early --block 1 -ojson "$T/set/long"
cmp -s "$T/out" "$T/early.jsonl" && ok "--early: block 1 and 16 identical" || bad "--early block sizes differ"

# self-adaptation: the voice's offset comes from each file's own events,
# so a file's first event is the plain detector's, and the result does not
# depend on the block size or on which worker took the file
expect 0 "transcribe --self-adapt" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --self-adapt -j 1 -ojson "$T/set/long"
cp "$T/out" "$T/sa.jsonl"
"$TOOL" score "$T/set/long" "$T/sa.jsonl" --min-f1 0.85 --max-start-err 0.12 >"$T/score_sa"
rc=$?
echo "long-form, --self-adapt: $(cat "$T/score_sa")"
[ $rc = 0 ] && ok "--self-adapt: event F1 >= 0.85 and start error <= 120 ms" || bad "--self-adapt metrics: $(cat "$T/score_sa")"
node -e 'const fs = require("fs");
  const read = f => fs.readFileSync(f, "utf8").trim().split("\n").map(l => JSON.parse(l));
  const a = read(process.argv[1]), b = read(process.argv[2]);
  if (a.length !== 3 || b.length !== 3) throw new Error("lines");
  let differ = 0;
  for (let i = 0; i < 3; i++) {
    if (a[i].file !== b[i].file || !a[i].events.length) throw new Error("files");
    if (JSON.stringify(a[i].events[0]) !== JSON.stringify(b[i].events[0]))
      throw new Error("first event of " + a[i].file + ": " + JSON.stringify([a[i].events[0], b[i].events[0]]));
    differ += JSON.stringify(a[i].events) !== JSON.stringify(b[i].events);
  }
  if (!differ) throw new Error("--self-adapt changed nothing")' "$T/events.jsonl" "$T/sa.jsonl" 2>"$T/err" &&
    ok "--self-adapt: each file starts as the plain detector, and later events change" || bad "--self-adapt: $(cat "$T/err")"
expect 0 "transcribe --self-adapt -j 2" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --self-adapt -j 2 -ojson "$T/set/long"
cmp -s "$T/out" "$T/sa.jsonl" && ok "--self-adapt: -j 1 and -j 2 identical" || bad "--self-adapt depends on the jobs"
# the encoder's sums round differently by block size (a score's 4th decimal
# on long files, plain or not); the offset then moves by as little. A
# file's last event may differ more: at the end es_detector_flush feeds
# silence up to a whole block (up to 1.28 s more at --block 16), and a
# window scored with the offset can keep the last region open longer.
expect 0 "transcribe --self-adapt --block 1" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --self-adapt --block 1 -ojson "$T/set/long"
node -e 'const fs = require("fs");
  const read = f => fs.readFileSync(f, "utf8").trim().split("\n").map(l => JSON.parse(l));
  const a = read(process.argv[1]), b = read(process.argv[2]);
  for (let i = 0; i < a.length; i++) {
    if (a[i].events.length !== b[i].events.length) throw new Error("event counts of " + a[i].file);
    a[i].events.slice(0, -1).forEach((e, k) => { const f = b[i].events[k];
      if (e.label !== f.label || e.start !== f.start || e.end !== f.end || Math.abs(e.score - f.score) > 2e-3)
        throw new Error(JSON.stringify([e, f])); });
  }' "$T/out" "$T/sa.jsonl" 2>"$T/err" && ok "--self-adapt: block 1 and 16 give the same events but each file's last (scores within 2e-3)" ||
    bad "--self-adapt block sizes: $(cat "$T/err")"
# early decisions learn once the event's region has closed (its peak window
# has the word whole); as good on this set, and independent of the jobs
expect 0 "transcribe --early --self-adapt" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --early --self-adapt -j 1 -ojson "$T/set/long"
cp "$T/out" "$T/sa_early.jsonl"
"$TOOL" score "$T/set/long" "$T/sa_early.jsonl" --min-f1 0.85 --max-start-err 0.12 >"$T/score_sae"
rc=$?
echo "long-form, --early --self-adapt: $(cat "$T/score_sae")"
[ $rc = 0 ] && ok "--early --self-adapt: event F1 >= 0.85 and start error <= 120 ms" || bad "--early --self-adapt metrics: $(cat "$T/score_sae")"
expect 0 "transcribe --early --self-adapt -j 2" -- "$BIN" transcribe -q -m "$T/digits.safetensors" --threshold 0.7 --early --self-adapt -j 2 -ojson "$T/set/long"
cmp -s "$T/out" "$T/sa_early.jsonl" && ok "--early --self-adapt: -j 1 and -j 2 identical" || bad "--early --self-adapt depends on the jobs"
expect 1 "--self-adapt with an openWakeWord head" -- "$BIN" transcribe -q -m alexa --self-adapt "$T/set/long"
has "$T/err" "alexa: an openWakeWord head has no class means" "... refused, naming the model"

echo "$pass passed, $fail failed"
[ $fail = 0 ]
