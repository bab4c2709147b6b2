#!/bin/bash
# End-to-end: earshot train / eval on a small vocabulary the test makes
# itself with espeak-ng, and the bad inputs of issue 3: empty label folder,
# one label, a corrupt / truncated / foreign-encoder model, a write that
# fails (file size limit standing in for a full disk). Skips (77) without
# the models or espeak-ng.
set -u
. "$(dirname -- "$0")/lib.sh"
cli_test_begin espeak-ng

# confusion_aligned MODEL OUT: eval's confusion matrix in OUT has a column
# for each label of MODEL's card, headed by the whole label (one over 24
# characters cut to 23 and "~"), every count ending where its label ends,
# and every row as wide as the header, counted in characters
confusion_aligned() {
    node -e '
  process.on("uncaughtException", e => { console.error(e.message); process.exit(1); });
  const fs = require("fs"), b = fs.readFileSync(process.argv[1]), n = Number(b.readBigUInt64LE(0));
  const labels = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.labels);
  const lines = fs.readFileSync(process.argv[2], "utf8").split("\n");
  const at = lines.indexOf("confusion (rows: truth, columns: prediction)");
  if (at < 0) throw new Error("no confusion matrix");
  const head = lines[at + 1], ends = [];
  let from = 0;
  for (const l of labels) {
    const shown = [...l].length > 24 ? [...l].slice(0, 23).join("") + "~" : l;
    const i = head.indexOf(" " + shown, from);
    if (i < 0) throw new Error("the header lacks \"" + shown + "\": " + head);
    ends.push(from = i + 1 + shown.length);
  }
  if (from !== head.length) throw new Error("the header runs on: " + head);
  labels.forEach((l, r) => {
    const row = lines[at + 2 + r];
    if (!row.startsWith(l)) throw new Error("row " + r + " is not " + l + "'"'"'s: " + row);
    if ([...row].length !== [...head].length) throw new Error("row " + l + " is " + [...row].length + " characters, the header " + [...head].length);
    const cells = row.slice(l.length).trim().split(/ +/);
    if (cells.length !== labels.length || !cells.every(c => /^[0-9]+$/.test(c))) throw new Error("row " + l + ": " + row);
    ends.forEach(e => { if (!/[0-9]/.test(row[e - 1]) || (e < row.length && row[e] !== " ")) throw new Error("row " + l + " off its columns: " + row); });
  });' "$1" "$2" 2>"$T/cerr"
}

# a three-word vocabulary ("lights on" has a space in its label) in 4 voices x 3 speeds
for w in "yes" "stop" "lights on"; do
    mkdir -p "$T/data/$w"
    for v in en-us en en+m3 en+f3; do for s in 120 150 180; do
        espeak-ng -v "$v" -s "$s" -w "$T/data/$w/${v}_$s.wav" "$w" 2>/dev/null
    done; done
done
expect 0 "train on a synthesized vocabulary" -- "$BIN" train -q "$T/data" -o "$T/m.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "trained mlp head on" "train reports what it did"
nval=$(sed -n 's/.*validated on \([0-9]*\)$/\1/p' "$T/out")
has "$T/out" "^validation accuracy [01]\.[0-9]* (balanced [01]\.[0-9]*), [0-9]* of $nval; 95% interval [01]\.[0-9]*-[01]\.[0-9]*$" \
    "the validation accuracy comes with its count (of the $nval validated) and interval"
has "$T/out" "by file-name hash" "the split is by hash when speakers are unknown"
has "$T/out" "windows of generated noise" "no noise recordings: a _silence_ class of generated noise all the same"
[ -f "$T/m.safetensors" ] && ok "model written" || bad "no model file"
expect 0 "second train reuses the cache" -- "$BIN" train -q "$T/data" -o "$T/m2.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "(36 of 36 clips from the cache)" "second run: every clip from the cache"
cmp -s "$T/m.safetensors" "$T/m2.safetensors" && ok "same seed, same bytes" || bad "a retrain with the same seed differs"
# Cache entries that a power cut or a disk damaged: a bit flipped in the
# middle of each entry, or a 512-byte block of another entry's bytes spliced
# in. Each parsed and was finite, so train took them for embeddings and
# wrote another model, exit 0. Now their checksums fail: every clip is
# recomputed and the model is the same bytes.
entries=$(find "$T/cache" -name '*.npy' -type f | sort)
nent=$(echo "$entries" | grep -c .)
[ "$nent" -ge 36 ] && ok "the cache holds the clips' entries ($nent)" || bad "cache entries: $nent"
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 -c '
import sys, numpy
for f in sys.argv[1:]:
    a = numpy.load(f)
    assert a.dtype == numpy.float32 and a.ndim == 2 and a.shape[1] == 96 and a.shape[0] > 0, (f, a.shape)
    raw = open(f, "rb").read()
    assert raw[-16:-8] == b"es-cache", f' $entries 2>"$T/perr" &&
        ok "numpy.load reads every entry, trailer and all" || bad "numpy.load of an entry: $(tail -1 "$T/perr")"
else
    skip "numpy.load of the entries" "no /usr/bin/python3 with numpy"
fi
flip_mid() {   # flip bit 2 of the byte in the middle of file $1 (its trailer aside)
    local at=$(( ($(stat -c %s "$1") - 16) / 2 )) b
    b=$(od -An -tu1 -j "$at" -N 1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $(( b ^ 4 )))" | dd of="$1" bs=1 seek="$at" conv=notrunc 2>/dev/null
}
for f in $entries; do flip_mid "$f"; done
expect 0 "train over entries with a bit flipped" -- "$BIN" train -q "$T/data" -o "$T/m3.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "(0 of 36 clips from the cache)" "... recomputes every clip"
cmp -s "$T/m.safetensors" "$T/m3.safetensors" && ok "... and writes the same model" || bad "a bit flipped in the cache changed the model"
prev=$(echo "$entries" | tail -1)
for f in $entries; do
    dd if="$prev" of="$f" bs=512 skip=1 seek=1 count=1 conv=notrunc 2>/dev/null
    prev=$f
done
expect 0 "train over entries with another entry's block spliced in" -- "$BIN" train -q "$T/data" -o "$T/m4.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "(0 of 36 clips from the cache)" "... recomputes every clip"
cmp -s "$T/m.safetensors" "$T/m4.safetensors" && ok "... and writes the same model" || bad "another entry's bytes in the cache changed the model"
# transcribe's chart of a file is the same bytes whichever files a worker ran
# before it: the detector's score row was not reset between files, and the
# chart's first second (before the head has its window) showed the last file's
expect 0 "transcribe -osvg, one job" -- "$BIN" transcribe -q -m "$T/m.safetensors" -osvg -j 1 -d "$T/svg1" "$T/data/yes"
expect 0 "transcribe -osvg, four jobs" -- "$BIN" transcribe -q -m "$T/m.safetensors" -osvg -j 4 -d "$T/svg4" "$T/data/yes"
expect 0 "transcribe -osvg of the last file alone" -- "$BIN" transcribe -q -m "$T/m.safetensors" -osvg "$T/data/yes/en_180.wav"
# (diff -r of two empty folders passes: every input must have its chart)
nwav=$(ls "$T/data/yes" | grep -c '\.wav$')
[ "$nwav" -gt 4 ] && [ "$(ls "$T/svg1" | grep -c '\.svg$')" = "$nwav" ] && [ "$(ls "$T/svg4" | grep -c '\.svg$')" = "$nwav" ] &&
    ok "... a chart for each of the $nwav inputs, more than the four jobs" || bad "charts: $(ls "$T/svg1" "$T/svg4" | tr '\n' ' ')"
diff -r "$T/svg1" "$T/svg4" >"$T/jerr" && cmp -s "$T/out" "$T/svg1/en_180.svg" &&
    ok "charts: the same bytes with -j 1, -j 4 and the file alone" || bad "charts differ: $(head -c 300 "$T/jerr")"
# earshot info: what the model is and holds, as a user reads it and as JSON
expect 0 "info on a trained model" -- "$BIN" info "$T/m.safetensors"
has "$T/out" "^$T/m.safetensors: an earshot keyword model, [0-9]* bytes$" "info names the kind of file"
has "$T/out" "^  loads: *yes$" "... says it loads"
has "$T/out" "^  words: *lights on (threshold 0.50), stop (threshold 0.50), yes (threshold 0.50)$" "... lists the words with their thresholds"
has "$T/out" "^  made with: *the pinned encoder" "... checks the encoder it was made with"
has "$T/out" "^  split: *by file-name hash" "... and shows the card (the split)"
has "$T/out" "^  tensors: *[0-9]* ([0-9]* parameters)$" "... and the tensors"
expect 0 "info --json" -- "$BIN" info --json "$T/m.safetensors"
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const ok = j.kind === "model" && j.loads === true && j.made_with_pinned === true && j.labels.length === 4 &&
    j.labels.some(l => l.name === "lights on" && l.threshold === 0.5) && j.card.architecture.window === j.window &&
    j.card.metrics.best_epoch >= 1 && /^[0-9a-f]{64}$/.test(j.sha256) && j.bytes === Number(process.argv[2]);
  process.exit(ok ? 0 : 1)' "$T/out" "$(stat -c %s "$T/m.safetensors")" && ok "--json: kind, loads, labels and thresholds, the card parsed, size, sha256" ||
    bad "info --json: $(head -c 600 "$T/out")"
# a card from another encoder, and one with a terminal escape in a label:
# said, and escaped (a card is outside bytes)
node -e 'const fs = require("fs"); const b = fs.readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString("utf8")); const m = h.__metadata__;
  m.encoder_sha256 = "0".repeat(64); m.split = "by \u001b[31mhash";
  let t = Buffer.from(JSON.stringify(h), "utf8"); const pad = (8 - t.length % 8) % 8; t = Buffer.concat([t, Buffer.alloc(pad, 32)]);
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(t.length));
  fs.writeFileSync(process.argv[2], Buffer.concat([len, t, b.subarray(8 + n)]));' "$T/m.safetensors" "$T/other.safetensors"
expect 0 "info on a model of another encoder" -- "$BIN" info "$T/other.safetensors"
has "$T/out" "^  made with: *ANOTHER encoder" "... says it was made with another encoder"
has "$T/out" '^  split: *by \\x1b\[31mhash$' "... and prints a control character in the card escaped"
grep -q $'\x1b' "$T/out" && bad "an escape character reached the terminal" || ok "... no escape character reaches the terminal"
head -c 2000 "$T/m.safetensors" > "$T/cut.safetensors"
expect 1 "info on a truncated model" -- "$BIN" info "$T/m.safetensors" "$T/cut.safetensors"
has "$T/err" "cut.safetensors: not a valid safetensors file" "... names the file and why"
has "$T/out" "^$T/m.safetensors: an earshot keyword model" "... and still describes the good one"
# A dataset folder whose name is not UTF-8 (Latin-1 "dé"): the card must be
# UTF-8, so the path is kept with U+FFFD for the bad byte; before, the model
# could not be written, after all the training.
lat="$T/$(printf 'd\xe9')"
cp -r "$T/data" "$lat"
expect 0 "train on a folder with a Latin-1 name" -- "$BIN" train -q "$lat" -o "$T/lat.safetensors" --val-fraction 0.25 --epochs 5
expect 0 "... and the model loads" -- "$BIN" eval -q "$T/lat.safetensors" "$T/data"
rm -rf "$lat"
# A recording much longer than a word left in a label folder (a whole
# session, 10 minutes) trains as one take of the word, by its centre
# window alone. That was said nowhere; now a note names it.
mkdir -p "$T/longclip"
cp -r "$T/data/yes" "$T/data/stop" "$T/longclip/"
sox $(ls "$T"/data/yes/*.wav | head -3) "$T/longclip/yes/session.wav" pad 0 5
expect 0 "train with a 6 s recording in a label folder" -- "$BIN" train -q "$T/longclip" -o "$T/longclip.safetensors" --val-fraction 0 --epochs 2
has "$T/err" "note: 1 clip is longer than the 2.0 s each clip is centred in (up to [0-9]* s, e.g. '$T/longclip/yes/session.wav'): each trains by its centre 0.64 s alone" "the long recording is named"
rm "$T/longclip/yes/session.wav"
expect 0 "... and without it" -- "$BIN" train -q "$T/longclip" -o "$T/longclip.safetensors" --val-fraction 0 --epochs 2
grep -q "longer than" "$T/err" && bad "a note without a long clip: $(cat "$T/err")" || ok "no note when every clip is short"
rm -rf "$T/longclip"
# --shifts auto: 4 offsets while no label has more than 50 training clips,
# else 1 (each offset is one more encoder pass over every clip). 51 links
# per label to the same 12 recordings cost no more encoder time than 12.
for w in yes stop; do
    mkdir -p "$T/many/$w"
    for i in $(seq 1 51); do f=("$T/data/$w"/*.wav); ln -s "${f[$((i % 12))]}" "$T/many/$w/c$i.wav"; done
done
expect 0 "train with 51 clips per label" -- "$BIN" train -q "$T/many" -o "$T/many.safetensors" --val-fraction 0 --epochs 2
has "$T/out" "averaged over 1 offset x" "more than 50 clips per label: one offset"
expect 0 "train with --shots 50" -- "$BIN" train -q "$T/many" -o "$T/many50.safetensors" --val-fraction 0 --epochs 2 --shots 50
has "$T/out" "averaged over 4 offsets x" "50 clips per label: four offsets"
grep -aq '\\"shifts\\":4' "$T/many50.safetensors" && grep -aq '\\"shifts\\":1' "$T/many.safetensors" &&
    ok "the model cards record the offsets used" || bad "cards: shifts not as used"
expect 0 "train again without --shifts" -- "$BIN" train -q "$T/many" -o "$T/many2.safetensors" --val-fraction 0 --epochs 2
has "$T/out" "averaged over 1 offset x" "(auto again without the flag)"
expect 0 "train --shifts 2" -- "$BIN" train -q "$T/many" -o "$T/many2.safetensors" --val-fraction 0 --epochs 2 --shifts 2
has "$T/out" "averaged over 2 offsets x" "--shifts 2 is taken as given"
expect 2 "--shifts 0 is a usage error" -- "$BIN" train -q "$T/many" -o "$T/x.safetensors" --shifts 0
# a window of 16 at 5 positions needs more than the default 2 s around a
# short clip: train centres the clips in what they need, says so, and the
# card records it, so eval and transcribe pad alike
expect 0 "train --window 16" -- "$BIN" train "$T/data" -o "$T/w16.safetensors" --val-fraction 0.25 --epochs 5 --window 16
has "$T/out" "^clips centred in 2\.[0-9]* s of audio, not --pad-to 2: 5 window positions of 16 embeddings need it" \
    "says the clips needed more than --pad-to"
pad16=$(node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0));
  console.log(JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.architecture).pad_to)' "$T/w16.safetensors")
awk -v p="$pad16" 'BEGIN {exit !(p > 2 && p < 3)}' && ok "the card records pad_to $pad16" || bad "card pad_to $pad16"
expect 0 "eval of the --window 16 model" -- "$BIN" eval -q "$T/w16.safetensors" "$T/data"
# --speed-perturb auto: copies at 0.9 and 1.1 (averaged in) up to 50 clips
# per label, none above (many.safetensors: 51, many50: 50); --frontend-copy
# auto: the copy through the whole-clip front end up to 500 (many501: 501)
card_copies() {   # prints "speeds frontend_copy" of a model card, "-" for none
    node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const a = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.architecture);
  console.log((a.speeds ? a.speeds.join(",") : "-") + " " + (a.frontend_copy || "-"))' "$1"
}
[ "$(card_copies "$T/many50.safetensors")" = "0.9,1.1 whole" ] && ok "50 clips per label: speed and front-end copies in the card" ||
    bad "50 clips per label: card copies '$(card_copies "$T/many50.safetensors")'"
[ "$(card_copies "$T/many.safetensors")" = "- whole" ] && ok "51 clips per label: the front-end copy alone in the card" ||
    bad "51 clips per label: card copies '$(card_copies "$T/many.safetensors")'"
for w in yes stop; do
    mkdir -p "$T/many501/$w"
    for i in $(seq 1 501); do f=("$T/data/$w"/*.wav); ln -s "${f[$((i % 12))]}" "$T/many501/$w/c$i.wav"; done
done
expect 0 "train with 501 clips per label" -- "$BIN" train -q "$T/many501" -o "$T/many501.safetensors" --val-fraction 0 --epochs 1
[ "$(card_copies "$T/many501.safetensors")" = "- -" ] && ok "501 clips per label: no copies in the card" ||
    bad "501 clips per label: card copies '$(card_copies "$T/many501.safetensors")'"
expect 0 "train with --shots 500" -- "$BIN" train -q "$T/many501" -o "$T/many500.safetensors" --val-fraction 0 --epochs 1 --shots 500
[ "$(card_copies "$T/many500.safetensors")" = "- whole" ] && ok "500 clips per label: the front-end copy in the card" ||
    bad "500 clips per label: card copies '$(card_copies "$T/many500.safetensors")'"
expect 0 "501 clips per label, --frontend-copy yes" -- "$BIN" train -q "$T/many501" -o "$T/many501y.safetensors" --val-fraction 0 --epochs 1 --frontend-copy yes
[ "$(card_copies "$T/many501y.safetensors")" = "- whole" ] && ok "--frontend-copy yes overrides auto above 500 clips" ||
    bad "explicit front-end copy at 501 clips: '$(card_copies "$T/many501y.safetensors")'"
expect 0 "train --shots 50 (copies auto)" -- "$BIN" train "$T/many" -o "$T/many50b.safetensors" --val-fraction 0 --epochs 2 --shots 50
has "$T/out" "copies at 0.9 and 1.1: training rows, and averaged in with the clip's own variants (auto: at most 50" "train says auto chose the speed copies"
has "$T/out" "through the whole-clip front end: training rows, and averaged in (auto: at most 500" "... and the front-end copy"
expect 0 "train with 51 clips per label (copies auto)" -- "$BIN" train "$T/many" -o "$T/many51b.safetensors" --val-fraction 0 --epochs 2
grep -q "copies at" "$T/out" && bad "51 clips per label: train reports speed copies" || ok "51 clips per label: train reports no speed copies"
has "$T/out" "through the whole-clip front end: training rows, and averaged in (auto: at most 500" "... but the front-end copy"
expect 0 "51 clips per label, copies asked for" -- "$BIN" train -q "$T/many" -o "$T/many51y.safetensors" --val-fraction 0 --epochs 2 --speed-perturb 0.1 --perturb-test --frontend-copy yes
[ "$(card_copies "$T/many51y.safetensors")" = "0.9,1.1 whole" ] && ok "explicit values override auto above 50 clips" ||
    bad "explicit copies at 51 clips: '$(card_copies "$T/many51y.safetensors")'"
expect 0 "50 clips per label, copies refused" -- "$BIN" train -q "$T/many" -o "$T/many50n.safetensors" --val-fraction 0 --epochs 2 --shots 50 --speed-perturb 0 --frontend-copy no
[ "$(card_copies "$T/many50n.safetensors")" = "- -" ] && ok "explicit 0 / no override auto at 50 clips" ||
    bad "explicit no copies at 50 clips: '$(card_copies "$T/many50n.safetensors")'"
expect 0 "--frontend-copy auto --speed-perturb auto at 50 clips" -- "$BIN" train -q "$T/many" -o "$T/many50a.safetensors" --val-fraction 0 --epochs 2 --shots 50 --speed-perturb auto --frontend-copy auto
cmp -s "$T/many50a.safetensors" "$T/many50.safetensors" && ok "auto spelled out is the default" || bad "auto spelled out differs from the default"
# speed-perturbed copies: training rows, and with --perturb-test averaged in
# eval (the card names their speeds); without it the card has none
expect 0 "train --speed-perturb 0.1 --perturb-test" -- "$BIN" train -q "$T/data" -o "$T/sp.safetensors" --val-fraction 0 --epochs 5 --speed-perturb 0.1 --perturb-test
has "$T/out" "copies at 0.9 and 1.1: training rows, and averaged in" "train reports the copies"
grep -aq '\\"speeds\\":\[0.9,1.1\]' "$T/sp.safetensors" && ok "the card names the copies' speeds" || bad "no speeds in the card"
expect 0 "eval a model with speed copies" -- "$BIN" eval -q "$T/sp.safetensors" "$T/data"
expect 0 "train --speed-perturb 0.1 (training rows only)" -- "$BIN" train -q "$T/data" -o "$T/sp2.safetensors" --val-fraction 0 --epochs 5 --speed-perturb 0.1
grep -aq 'speeds' "$T/sp2.safetensors" && bad "speeds in the card of a model that does not average over copies" || ok "training copies only: no speeds in the card"
expect 1 "--perturb-test with --speed-perturb 0" -- "$BIN" train -q "$T/data" -o "$T/x.safetensors" --perturb-test --speed-perturb 0
has "$T/err" "needs a speed perturbation" "... says what it needs"
expect 1 "--warp-perturb is a learning-curve experiment" -- "$BIN" train -q "$T/data" -o "$T/x.safetensors" --warp-perturb 0.1
# a copy through the other front end: a training row, averaged in eval
expect 0 "train --frontend-copy yes" -- "$BIN" train -q "$T/data" -o "$T/fc.safetensors" --val-fraction 0 --epochs 5 --frontend-copy yes
has "$T/out" "through the whole-clip front end" "train reports the front-end copy"
grep -aq 'frontend_copy\\":\\"whole' "$T/fc.safetensors" && ok "the card names the front-end copy" || bad "no frontend_copy in the card"
expect 0 "eval a model with a front-end copy" -- "$BIN" eval -q "$T/fc.safetensors" "$T/data"
expect 0 "train --frontend-copy no" -- "$BIN" train -q "$T/data" -o "$T/fcn.safetensors" --val-fraction 0 --epochs 5 --frontend-copy no
grep -aq 'frontend_copy' "$T/fcn.safetensors" && bad "frontend_copy in the card of a model without it" || ok "--frontend-copy no: none in the card"
expect 2 "--frontend-copy maybe is a usage error" -- "$BIN" train -q "$T/data" -o "$T/x.safetensors" --frontend-copy maybe
expect 0 "eval" -- "$BIN" eval -q "$T/m.safetensors" "$T/data"
acc=$(awk '/accuracy/ {print $4; exit}' "$T/out")
awk -v a="$acc" 'BEGIN {exit !(a >= 0.9)}' && ok "eval accuracy on the training vocabulary $acc >= 0.9" || bad "eval accuracy $acc"
has "$T/out" "lights on" "labels with spaces survive the round trip"
has "$T/out" "^36 clips, accuracy [01]\.[0-9]* (95% interval [01]\.[0-9]*-[01]\.[0-9]*)" "eval gives the accuracy's 95% interval"
# the confusion matrix's columns were 6 bytes: "lights on" and "_silence_"
# were headed "lights" and "_silen"
confusion_aligned "$T/m.safetensors" "$T/out" && ok "the confusion matrix heads its columns with whole labels, counts under them" ||
    bad "confusion matrix: $(cat "$T/cerr") $(sed -n '/^confusion/,$p' "$T/out")"
expect 0 "eval --json" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/data"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.clips !== 36 || r.labels.length !== 4 || r.confusion.length !== 4) throw new Error("shape")
  if (r.speakers.length !== 0) throw new Error("speakers from names that tell none")
  const [lo, hi] = r.accuracy_interval;
  if (Math.abs(r.correct / r.clips - r.accuracy) > 1e-6 || !(lo <= r.accuracy && r.accuracy <= hi && hi - lo > 0.01))
    throw new Error("accuracy, its count and interval disagree: " + JSON.stringify([r.correct, r.accuracy, lo, hi]))' \
    "$T/out" 2>"$T/err" &&
    ok "eval --json parses (no speakers in these names; correct, accuracy and interval agree)" || bad "eval --json: $(cat "$T/err")"
# accuracy per speaker when the names tell them: the four voices as speakers
mkdir -p "$T/flat"
for w in yes stop; do for f in "$T/data/$w"/*.wav; do b=$(basename "$f" .wav); ln -s "$f" "$T/flat/${w}_${b%_*}_${b##*_}.wav"; done; done
expect 0 "eval by speaker" -- "$BIN" eval -q "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
[ "$(awk '/^speaker +clips +accuracy +95% interval/ {on = 1; next} on && NF == 4 && $2 == 6 && $4 ~ /^[01]\.[0-9]+-[01]\.[0-9]+$/ {n++} END {print n + 0}' "$T/out")" = 4 ] &&
    ok "eval prints 4 speakers of 6 clips each, with intervals" || bad "eval by speaker: $(tail -6 "$T/out")"
expect 0 "eval --json by speaker" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const names = r.speakers.map(s => s.speaker).join(",");
  if (names !== "en,en+f3,en+m3,en-us") throw new Error("speakers " + names);
  const right = r.speakers.reduce((a, s) => a + s.accuracy * s.clips, 0);
  if (r.clips !== 24 || Math.abs(right - r.accuracy * r.clips) > 1e-3) throw new Error("per-speaker counts do not add up: " + JSON.stringify(r.speakers))
  for (const s of r.speakers)
    if (Math.abs(s.correct / s.clips - s.accuracy) > 1e-6 || !(s.interval[0] <= s.accuracy && s.accuracy <= s.interval[1]))
      throw new Error("speaker interval: " + JSON.stringify(s))' \
    "$T/out" 2>"$T/err" && ok "eval --json: per-speaker accuracies add up to the total" || bad "eval --json by speaker: $(cat "$T/err")"
# ... and from Speech Commands names (<speaker>_nohash_<n>) in the folder layout
for w in yes stop; do mkdir -p "$T/scn/$w"; i=0
    for f in "$T/data/$w"/*.wav; do ln -s "$f" "$T/scn/$w/spk$((i % 3))_nohash_$i.wav"; i=$((i + 1)); done; done
expect 0 "eval --json on Speech Commands names" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/scn"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const got = r.speakers.map(s => s.speaker + ":" + s.clips).join(",");
  if (got !== "spk0:8,spk1:8,spk2:8") throw new Error(got)' "$T/out" 2>"$T/err" &&
    ok "eval reads the speakers of Speech Commands names" || bad "eval on Speech Commands names: $(cat "$T/err")"
# self-adaptation: each speaker's clips in turn, reported as such, the
# same for the same seed; it needs every clip's speaker
expect 0 "eval --self-adapt --json" -- "$BIN" eval -q --json --self-adapt "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
cp "$T/out" "$T/sa1.json"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.self_adapt !== true || r.clips !== 24 || r.speakers.length !== 4) throw new Error(JSON.stringify(r).slice(0, 300))
  const right = r.speakers.reduce((a, s) => a + s.correct, 0);
  if (right !== r.correct) throw new Error("per-speaker counts do not add up")' "$T/out" 2>"$T/err" &&
    ok "eval --self-adapt --json: flagged, every clip scored once" || bad "eval --self-adapt: $(cat "$T/err")"
expect 0 "eval --self-adapt again" -- "$BIN" eval -q --json --self-adapt "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
cmp -s "$T/out" "$T/sa1.json" && ok "eval --self-adapt: the same seed gives the same result" || bad "eval --self-adapt differs between runs"
expect 0 "eval --self-adapt (text)" -- "$BIN" eval -q --self-adapt --seed 7 --prior 0.5 "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
has "$T/out" "^self-adapted: each speaker's clips in turn (seed 7)" "eval --self-adapt says so above its figures"
expect 0 "plain eval --json" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
grep -q '"self_adapt": false' "$T/out" && ok "plain eval reports self_adapt false" || bad "plain eval: $(head -c 200 "$T/out")"
expect 1 "eval --self-adapt without speakers in the names" -- "$BIN" eval -q --self-adapt "$T/m.safetensors" "$T/data"
has "$T/err" "self-adaptation needs every clip's speaker" "... says it needs the speakers"
expect 0 "eval --self-adapt --one-voice without speakers in the names" -- "$BIN" eval -q --self-adapt --one-voice "$T/m.safetensors" "$T/data"
has "$T/out" "^self-adapted: all clips, as one voice, in turn" "... says the clips were taken as one voice"
has "$T/out" "^36 clips, accuracy" "... and scores every clip"
mkdir -p "$T/flat1" && ln -s "$T"/flat/*_en-us_* "$T/flat1/"
expect 0 "eval --self-adapt on one speaker's clips" -- "$BIN" eval -q --json --self-adapt "$T/m.safetensors" "$T/flat1" --pattern '{label}_{speaker}_{take}'
cp "$T/out" "$T/one_spk.json"
expect 0 "... and with --one-voice" -- "$BIN" eval -q --json --self-adapt --one-voice "$T/m.safetensors" "$T/flat1" --pattern '{label}_{speaker}_{take}'
cmp -s "$T/out" "$T/one_spk.json" && ok "one speaker by name and --one-voice decide alike" || bad "--one-voice differs from one named speaker"
expect 2 "--one-voice alone is a usage error" -- "$BIN" eval -q --one-voice "$T/m.safetensors" "$T/data"
expect 2 "eval --prior -1 is a usage error" -- "$BIN" eval -q --self-adapt --prior -1 "$T/m.safetensors" "$T/flat"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
  const t = h["rehearsal.means"], labels = JSON.parse(h.__metadata__.labels);
  if (!t || t.dtype !== "F32" || t.shape[0] !== labels.length || t.shape[1] !== 96) throw new Error(JSON.stringify(t))'     "$T/m.safetensors" 2>"$T/err" && ok "the model carries its labels' mean embeddings [labels][96]" || bad "class means: $(cat "$T/err")"
# a label with a quote and a backslash still gives valid JSON
# (and, for eval's columns, a label of 5 characters in 9 bytes and one of 31)
mkdir -p "$T/q/say \"yes\" \\ now" "$T/q/stop" "$T/q/aéééé" "$T/q/turn_the_kitchen_lights_off_now"
cp "$T/data/yes/"*.wav "$T/q/say \"yes\" \\ now/" && cp "$T/data/stop/"*.wav "$T/q/stop/" && cp "$T/data/lights on/"*.wav "$T/q/aéééé/"
for v in en-us en en+m3 en+f3; do espeak-ng -v "$v" -w "$T/q/turn_the_kitchen_lights_off_now/$v.wav" "kitchen off" 2>/dev/null; done
expect 0 "train on a label with a quote" -- "$BIN" train -q "$T/q" -o "$T/q.safetensors" --val-fraction 0 --epochs 5 --min-steps 20
expect 0 "eval --json with that label" -- "$BIN" eval -q --json "$T/q.safetensors" "$T/q"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!r.labels.some(l => l.label === "say \"yes\" \\ now")) throw new Error(JSON.stringify(r.labels))' "$T/out" 2>"$T/err" &&
    ok "eval --json escapes labels" || bad "eval --json with a quoted label: $(cat "$T/err") $(head -c 300 "$T/out")"
# the confusion matrix was cut at 6 bytes (inside the second "é") and its
# rows padded to 16 bytes, not characters
expect 0 "eval with UTF-8 and long labels" -- "$BIN" eval -q "$T/q.safetensors" "$T/q"
confusion_aligned "$T/q.safetensors" "$T/out" && ok "UTF-8 and long labels: whole (or cut with ~) columns, counts under them" ||
    bad "confusion matrix: $(cat "$T/cerr") $(sed -n '/^confusion/,$p' "$T/out")"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
  const m = h.__metadata__;
  for (const k of ["labels", "architecture", "encoder_sha256", "split", "metrics", "seed", "earshot.version"])
    if (!(k in m)) throw new Error("model card lacks " + k);
  if (JSON.parse(m.labels).join() !== "lights on,stop,yes,_silence_") throw new Error(m.labels);' "$T/m.safetensors" 2>"$T/err" &&
    ok "model card holds labels, architecture, encoder hash, split, metrics, seed" || bad "model card: $(cat "$T/err")"
# which source trained it: the commit `earshot --version` names (a git
# describe, or "unknown" outside a checkout), never empty
commit=$("$BIN" --version | sed -n 's/^earshot [0-9.]* (commit \(.*\))$/\1/p')
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  if (!process.argv[2] || m["earshot.commit"] !== process.argv[2]) throw new Error(m["earshot.commit"] + " vs " + process.argv[2]);' \
    "$T/m.safetensors" "$commit" 2>"$T/err" && ok "model card: earshot.commit is the build's ($commit)" || bad "model card commit: $(cat "$T/err")"
# and what a rebuild from the card needs besides: the options that change
# the weights without showing elsewhere, and a hash of the audio that the
# shell recipe of the README gives too
want=$(cd "$T/data" && find . -type f -name '*.wav' | sed 's|^\./||' | LC_ALL=C sort | tr '\n' '\0' |
       xargs -0 sha256sum | LC_ALL=C sort -k 2 | sha256sum | cut -c1-64)
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  const d = JSON.parse(m.data), t = JSON.parse(m.training);
  if (d.sha256 !== process.argv[2]) throw new Error("data.sha256 " + d.sha256 + ", sha256sum " + process.argv[2]);
  if (t.val_fraction !== 0.25 || t.min_steps !== 500) throw new Error("training " + m.training);' \
  "$T/m.safetensors" "$want" 2>"$T/err" && ok "model card: data.sha256 as sha256sum gives it, val_fraction, min_steps" ||
  bad "model card: $(cat "$T/err")"

# --- augmentation: cached variants, rerun from the cache, recorded in the model card
expect 0 "train --augment 2" -- "$BIN" train -q "$T/data" -o "$T/a.safetensors" --val-fraction 0.25 --epochs 40 --augment 2 --speed 0.9:1.1 --snr 5:20 --shift-ms 80 --specaugment
has "$T/out" "augmentation: 42 variants" "21 training clips x 2 variants"
has "$T/out" "validated on 20" "validation is not augmented (15 clips + 5 generated-silence windows)"
expect 0 "train --augment 2 again" -- "$BIN" train -q "$T/data" -o "$T/a2.safetensors" --val-fraction 0.25 --epochs 40 --augment 2 --speed 0.9:1.1 --snr 5:20 --shift-ms 80 --specaugment
has "$T/out" "(42 from the cache)" "second run: every variant from the cache"
cmp -s "$T/a.safetensors" "$T/a2.safetensors" && ok "augmented run: same seed, same bytes" || bad "augmented retrain differs"
expect 0 "another seed draws other recipes" -- "$BIN" train -q "$T/data" -o "$T/a3.safetensors" --val-fraction 0.25 --epochs 40 --augment 2 --seed 7
has "$T/out" "(0 from the cache)" "new seed: new variants"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  const a = JSON.parse(m.augmentation);
  if (a.variants_per_clip !== 2 || a.speed.join() !== "0.9,1.1" || a.snr_db.join() !== "5,20" || a.shift_ms !== 80 || !a.specaugment)
    throw new Error(m.augmentation);
  if (m.mode !== "multi-class") throw new Error("mode " + m.mode);' "$T/a.safetensors" 2>"$T/err" &&
    ok "model card records the augmentation" || bad "augmentation card: $(cat "$T/err")"
expect 2 "a bad --snr range is refused" -- "$BIN" train "$T/data" -o "$T/y.safetensors" --snr 20:5
has "$T/err" "LO:HI" "bad range: says the form"

# --- the silence class from _background_noise_ (two noise recordings the test writes)
cp -r "$T/data" "$T/noisy"
mkdir -p "$T/noisy/_background_noise_"
node -e '
  const fs = require("fs");
  for (const [name, secs, amp] of [["hum.wav", 5, 3000], ["hiss.wav", 3, 1500]]) {
    const n = 16000 * secs, b = Buffer.alloc(44 + 2 * n);
    b.write("RIFF", 0); b.writeUInt32LE(36 + 2 * n, 4); b.write("WAVEfmt ", 8); b.writeUInt32LE(16, 16);
    b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(16000, 24); b.writeUInt32LE(32000, 28);
    b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write("data", 36); b.writeUInt32LE(2 * n, 40);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      const v = name === "hum.wav" ? amp * Math.sin(2 * Math.PI * 100 * i / 16000) + (s / 2147483648 - 0.5) * 200
                                   : (s / 2147483648 - 0.5) * 2 * amp;
      b.writeInt16LE(Math.round(v), 44 + 2 * i);
    }
    fs.writeFileSync(process.argv[1] + "/" + name, b);
  }' "$T/noisy/_background_noise_"
expect 0 "train with background noise" -- "$BIN" train -q "$T/noisy" -o "$T/s.safetensors" --val-fraction 0.25 --epochs 40
has "$T/out" "silence: 7 training and 5 validation windows" "a _silence_ class sized like a label"
has "$T/out" "(4 labels)" "silence is a fourth label"
# the card says which noise the model heard: the two recordings here, and
# for the model of no recordings the generated noise (its card had claimed
# "2 recordings from the dataset's _background_noise_/": the two files
# earshot generates for the silence class)
card_noise() {
    node -e '
  const b = require("fs").readFileSync(process.argv[1]), n = Number(b.readBigUInt64LE(0));
  console.log(JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.augmentation).noise)' "$1"
}
card_noise "$T/s.safetensors" | grep -qx "2 recordings from the dataset's _background_noise_/ (generated white/pink/brown noise for 25% of noisy variants)" &&
    ok "card: the noise is the 2 recordings of _background_noise_/" || bad "card noise with recordings: '$(card_noise "$T/s.safetensors")'"
card_noise "$T/m.safetensors" | grep -qx "generated white/pink/brown noise (no noise recordings)" &&
    ok "card: without recordings the noise is generated, and says so" || bad "card noise without recordings: '$(card_noise "$T/m.safetensors")'"
expect 0 "eval scores silence slices too" -- "$BIN" eval -q "$T/s.safetensors" "$T/noisy"
has "$T/out" "^_silence_ " "eval reports the _silence_ class"
sil_recall=$(awk '$1 == "_silence_" && NF == 4 {print $3}' "$T/out")
awk -v r="$sil_recall" 'BEGIN {exit !(r >= 0.9)}' && ok "silence recall $sil_recall >= 0.9" || bad "silence recall '$sil_recall'"
expect 0 "--no-silence" -- "$BIN" train -q "$T/noisy" -o "$T/s2.safetensors" --val-fraction 0.25 --epochs 40 --no-silence
has "$T/out" "(3 labels)" "no silence class when asked"

# --- binary wake-word mode
expect 0 "train --wake-word yes" -- "$BIN" train -q "$T/noisy" -o "$T/w.safetensors" --val-fraction 0.25 --epochs 60 --wake-word yes --target-fa 0.05
has "$T/out" "wake word 'yes': threshold" "reports the threshold"
has "$T/out" "(2 labels)" "two classes"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  if (m.mode !== "wake-word" || m.wake_word !== "yes") throw new Error("mode " + m.mode + " " + m.wake_word);
  if (JSON.parse(m.labels).join() !== "_other_,yes") throw new Error(m.labels);
  const t = JSON.parse(m.thresholds).yes;
  if (!(t >= 0.5 && t <= 1)) throw new Error("threshold " + m.thresholds);
  if (!/false accepts <= 0.05/.test(JSON.parse(m.metrics).threshold_rule)) throw new Error(m.metrics);' "$T/w.safetensors" 2>"$T/err" &&
    ok "model card: wake-word mode, its label, threshold and rule" || bad "wake-word card: $(cat "$T/err")"
expect 0 "eval a wake-word model" -- "$BIN" eval -q "$T/w.safetensors" "$T/noisy"
has "$T/out" "^_other_ " "eval maps the other labels to _other_"
acc=$(awk '/accuracy/ {print $4; exit}' "$T/out")
n=$(awk '/accuracy/ {print $1; exit}' "$T/out")
[ "$n" = 48 ] && ok "every clip and silence slice is scored (36 + 12)" || bad "wake-word eval scored $n clips"
awk -v a="$acc" 'BEGIN {exit !(a >= 0.9)}' && ok "wake-word accuracy $acc >= 0.9" || bad "wake-word accuracy $acc"
# streaming: only the wake word is an event, never _other_ (everything else)
sox $(ls "$T"/noisy/yes/*.wav | head -2) $(ls "$T"/noisy/stop/*.wav | head -2) "$T/wake_stream.wav"
expect 0 "transcribe with a wake-word model" -- "$BIN" transcribe -q -m "$T/w.safetensors" "$T/wake_stream.wav"
grep -q "_other_" "$T/out" && bad "transcribe reports _other_ as an event: $(cat "$T/out")" || ok "... _other_ is never an event"
grep -q "	yes	" "$T/out" && ok "... and the wake word is" || bad "no 'yes' event in the stream: $(cat "$T/out")"
# --- the threshold trade-off (eval --thresholds, --plot)
expect 0 "eval --thresholds --json of the wake-word model" -- "$BIN" eval -q --json --thresholds "$T/w.safetensors" "$T/noisy"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")), s = r.sweep;
  // the wake word is own; every other word is a clip it must not fire on
  if (s.own_clips !== 12 || s.word_clips !== 36 || s.silence_clips !== 12 || s.unknown_clips !== 0)
    throw new Error("counts " + JSON.stringify(s));
  if (s.word_clips + s.unknown_clips + s.silence_clips !== r.clips) throw new Error("not every clip counted once");
  if (s.rows.length !== 12 || s.rows[0].threshold !== 0.1 || s.rows[11].threshold !== 0.99) throw new Error("rows");
  for (let i = 1; i < s.rows.length; i++) {
    const a = s.rows[i - 1], b = s.rows[i];
    if (b.missed < a.missed || b.false_words > a.false_words || b.false_silence > a.false_silence)
      throw new Error("a higher threshold missed less or fired more: " + JSON.stringify([a, b]));
  }
  if (s.rows[0].false_unknown !== null) throw new Error("a rate over no clips must be null");
  // 12 noise slices cannot tell 1% from none: the suggestion says so
  if (s.suggested.length !== 2 || s.suggested.some(g => g.enough_clips !== false)) throw new Error(JSON.stringify(s.suggested));
  ' "$T/out" 2>"$T/err" && ok "--thresholds: every clip counted once, rates monotone in the threshold, null where nothing to count; too few clips for a suggestion" ||
    bad "eval --thresholds: $(cat "$T/err")"
expect 0 "eval --thresholds --plot" -- "$BIN" eval --thresholds --plot "$T/th.svg" "$T/s.safetensors" "$T/noisy"
has "$T/out" "^threshold trade-off" "the text table is printed"
has "$T/out" "at most 1% of each kind of clip: too few clips to tell (12 of one kind; 100 needed)" "no threshold suggested from 12 clips"
[ "$(grep -cE '^ +0\.[0-9]{2}( +([01]\.[0-9]{4}|-)){4}$' "$T/out")" = 12 ] && ok "... with 12 rows of 4 rates" ||
    bad "threshold table: $(grep -A14 'trade-off' "$T/out")"
has "$T/err" "wrote $T/th.svg" "says where the chart went"
grep -q ">word missed<" "$T/th.svg" && grep -q ">a word fires on noise<" "$T/th.svg" && ! grep -q "_unknown_<" "$T/th.svg" &&
    ok "the chart draws the rates there are clips for, and no _unknown_ line without _unknown_ clips" ||
    bad "threshold chart: $(grep -o '>[^<]*<' "$T/th.svg" | tr '\n' ' ' | head -c 600)"
expect 2 "eval --plot to a .png name" -- "$BIN" eval -q --plot "$T/th.png" "$T/s.safetensors" "$T/noisy"
[ ! -e "$T/th.png" ] && ok "... and nothing written" || bad "eval --plot wrote $T/th.png"
sed 's/"wake_word":"yes"/"wake_word":"no!"/' "$T/w.safetensors" > "$T/w_bad.safetensors"
expect 1 "a wake-word card whose word is not a label is refused" -- "$BIN" eval -q "$T/w_bad.safetensors" "$T/noisy"
has "$T/err" "wake-word mode needs" "bad wake-word card: says why"
expect 1 "--wake-word of a missing label" -- "$BIN" train -q "$T/data" -o "$T/y.safetensors" --wake-word nope
has "$T/err" "'nope' is not one of its labels" "missing wake word: named"

# --- bad input
mkdir -p "$T/one/yes" && cp "$T/data/yes/"*.wav "$T/one/yes/"
expect 1 "one label is refused" -- "$BIN" train -q "$T/one" -o "$T/x.safetensors"
has "$T/err" "two labels" "one label: says why"
# ... but a test set of one label is a question eval answers: how well one
# word is heard, or (with _unknown_ alone) how often other speech passes
expect 0 "eval on one label" -- "$BIN" eval -q "$T/m.safetensors" "$T/one"
has "$T/out" "^12 clips, accuracy" "eval scores the 12 clips of the one label"
mkdir -p "$T/unk/_unknown_" && cp "$T/data/stop/"*.wav "$T/unk/_unknown_/"
expect 0 "eval a wake-word model on _unknown_ alone" -- "$BIN" eval -q "$T/w.safetensors" "$T/unk"
has "$T/out" "^_unknown_ false-accept rate [01]\.[0-9]* ([0-9]* of 12 clips" "eval gives the false accepts of other speech"
mkdir -p "$T/foreign/maybe" && cp "$T/data/yes/"*.wav "$T/foreign/maybe/"
expect 1 "eval on labels the model does not have" -- "$BIN" eval -q "$T/m.safetensors" "$T/foreign"
has "$T/err" "none of its labels (maybe) is one of the model's (.*yes" "no label in common: both sides named"
# labels the model does not know beside ones it does: scored on those, the
# others named (a folder misspelt as "stpo" was only a count of clips)
mkdir -p "$T/part"
cp -r "$T/data/yes" "$T/foreign/maybe" "$T/part/" && cp -r "$T/data/stop" "$T/part/stpo"
expect 0 "eval with labels the model does not know" -- "$BIN" eval -q "$T/m.safetensors" "$T/part"
has "$T/out" "^12 clips, accuracy .*; 24 clips of labels the model does not know were skipped (maybe, stpo)$" \
    "the skipped labels are named, each once"
expect 0 "eval --json of the same" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/part"
has "$T/out" '"skipped": 24, "skipped_labels": "maybe, stpo"' "--json names them too"
mkdir -p "$T/empty/yes" "$T/empty/no" && cp "$T/data/yes/"*.wav "$T/empty/yes/"
expect 1 "an empty label folder is refused" -- "$BIN" train -q "$T/empty" -o "$T/x.safetensors"
has "$T/err" "$T/empty/no: no audio files" "empty label folder: named"
[ ! -e "$T/x.safetensors" ] && ok "no model written after a refused dataset" || bad "a model was written"
mkdir -p "$T/zero/a" "$T/zero/b" && cp "$T/data/yes/en_120.wav" "$T/zero/a/" && : > "$T/zero/b/empty.wav"
expect 1 "a zero-length clip fails cleanly" -- "$BIN" train -q "$T/zero" -o "$T/x.safetensors"
has "$T/err" "empty.wav" "zero-length clip: named"
head -c 100 "$T/m.safetensors" > "$T/trunc.safetensors"
expect 1 "a truncated model is refused" -- "$BIN" eval -q "$T/trunc.safetensors" "$T/data"
has "$T/err" "trunc.safetensors" "truncated model: named"
echo "not a model" > "$T/junk.safetensors"
expect 1 "a junk model is refused" -- "$BIN" eval -q "$T/junk.safetensors" "$T/data"
# the same file with another encoder's hash (same length, so the header stays valid)
sha=$(node -e 'const b=require("fs").readFileSync(process.argv[1]);const n=Number(b.readBigUInt64LE(0));
  console.log(JSON.parse(b.subarray(8,8+n)).__metadata__.encoder_sha256)' "$T/m.safetensors")
other=$(echo "$sha" | tr '0-9a-f' '1-9a-f0')
sed "s/$sha/$other/" "$T/m.safetensors" > "$T/foreign.safetensors"
expect 1 "a model from another encoder is refused" -- "$BIN" eval -q "$T/foreign.safetensors" "$T/data"
has "$T/err" "another encoder" "foreign encoder: says so"
sed 's/"earshot-head-1"/"earshot-head-2"/' "$T/m.safetensors" > "$T/newer.safetensors"
expect 1 "a model of a newer earshot is refused" -- "$BIN" eval -q "$T/newer.safetensors" "$T/data"
has "$T/err" "newer.safetensors: a model of a newer earshot" "newer model: says to upgrade"
# a write that fails part-way (file size limit, like a full disk): no model, no temp file
cp "$T/m.safetensors" "$T/keep.safetensors"
expect 1 "a failing write is reported" -- bash -c "trap '' XFSZ; ulimit -f 2; \"$BIN\" train -q \"$T/data\" -o \"$T/keep.safetensors\" --epochs 5"
has "$T/err" "keep.safetensors" "failed write: names the file"
cmp -s "$T/m.safetensors" "$T/keep.safetensors" && ok "the old model is intact after a failed write" || bad "old model damaged"
[ -z "$(ls "$T" | grep '\.tmp')" ] && ok "no temporary file left" || bad "temp files: $(ls "$T" | grep tmp)"
expect 2 "bad option value" -- "$BIN" train --epochs 0 "$T/data" -o "$T/y.safetensors"

# --- fine-tuning and the from-scratch baseline through the CLI
expect 0 "train --finetune 2" -- "$BIN" train -q "$T/data" -o "$T/ft.safetensors" --val-fraction 0.25 --epochs 40 --finetune 2
has "$T/out" "fine-tuned the last 2 encoder convolutions" "train --finetune reports it"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
  if (JSON.parse(h.__metadata__.architecture).finetune !== 2) throw new Error("architecture.finetune");
  if (!JSON.parse(h.__metadata__.training).mode.startsWith("fine-tuning")) throw new Error("training.mode");
  const enc = Object.keys(h).filter(k => k !== "__metadata__" && !k.startsWith("head."));
  if (enc.length !== 3 || !enc.every(k => k.startsWith("model/conv2d_1"))) throw new Error("tensors " + enc);' \
  "$T/ft.safetensors" 2>"$T/err" && ok "fine-tuned model: card says K=2, carries the ONNX-named encoder tensors" ||
  bad "fine-tuned model file: $(cat "$T/err")"
expect 0 "eval of a fine-tuned model" -- "$BIN" eval -q "$T/ft.safetensors" "$T/data"
has "$T/out" "36 clips, accuracy" "eval runs the fine-tuned model"
sed "s/$sha/$other/" "$T/ft.safetensors" > "$T/ftforeign.safetensors"
expect 1 "a fine-tuned model from another encoder is refused" -- "$BIN" eval -q "$T/ftforeign.safetensors" "$T/data"
has "$T/err" "another encoder" "fine-tuned, foreign encoder: says so"
# augmentation reaches fine-tuning: variants (and silence slices) go through
# the frozen layers into the trained ones; the same seed gives the same file,
# with one thread or two (the batch was once cut into one part per thread,
# and the parts' gradients summed in another order gave other weights)
for k in 1 2; do
  expect 0 "train --finetune 2 --augment 2 (run $k, $k threads)" -- "$BIN" train -q "$T/data" -o "$T/fta$k.safetensors" \
    --val-fraction 0.25 --epochs 10 --finetune 2 --augment 2 --specaugment --seed 3 -t $k
done
has "$T/out" "augmentation: 54 variants" "fine-tuning with --augment makes 2 variants of each of the 27 training clips"
has "$T/out" "through the frozen layers, not cached" "and says they are not cached"
cmp -s "$T/fta1.safetensors" "$T/fta2.safetensors" && ok "fine-tuning with augmentation is deterministic, -t 1 or -t 2" ||
  bad "two runs with one seed (-t 1, -t 2) differ"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  const a = JSON.parse(m.augmentation);
  if (a.variants_per_clip !== 2 || !/frozen layers/.test(a.applied_to)) throw new Error("augmentation " + m.augmentation);
  if (!JSON.parse(m.labels).includes("_silence_")) throw new Error("no _silence_ class: " + m.labels);' \
  "$T/fta1.safetensors" 2>"$T/err" && ok "fine-tuned + augmented card: variants, how, and a _silence_ class" ||
  bad "fine-tuned + augmented card: $(cat "$T/err")"
expect 0 "eval of a fine-tuned, augmented model" -- "$BIN" eval -q "$T/fta1.safetensors" "$T/data"
expect 0 "train --scratch" -- "$BIN" train -q "$T/data" -o "$T/sc.safetensors" --val-fraction 0.25 --epochs 20 --scratch
has "$T/out" "from-scratch CNN baseline" "train --scratch reports it"
expect 0 "eval of the scratch baseline" -- "$BIN" eval -q "$T/sc.safetensors" "$T/data"
has "$T/out" "36 clips, accuracy" "eval runs the scratch baseline"
expect 1 "eval --self-adapt of the scratch baseline" -- "$BIN" eval -q --self-adapt "$T/sc.safetensors" "$T/flat" --pattern '{label}_{speaker}_{take}'
has "$T/err" "sc.safetensors: this model carries no class means" "... refused, naming the model"
for opt in "--finetune 1" "--scratch"; do
    # shellcheck disable=SC2086
    expect 1 "$opt --frontend-copy yes is refused" -- "$BIN" train -q $opt --frontend-copy yes "$T/data" -o "$T/y.safetensors"
    has "$T/err" "frozen encoder only" "... says why"
    # shellcheck disable=SC2086
    expect 1 "$opt --speed-perturb 0.1 is refused" -- "$BIN" train -q $opt --speed-perturb 0.1 "$T/data" -o "$T/y.safetensors"
done
# with auto (the default, 12 clips per label) they simply have no copies
for m in ft sc; do
    [ "$(card_copies "$T/$m.safetensors")" = "- -" ] && ok "$m: auto copies are off under fine-tuning / scratch" ||
        bad "$m: card copies '$(card_copies "$T/$m.safetensors")'"
done
expect 2 "--scratch with --finetune is a usage error" -- "$BIN" train --scratch --finetune 1 "$T/data" -o "$T/y.safetensors"
expect 2 "--finetune above 20 is a usage error" -- "$BIN" train --finetune 21 "$T/data" -o "$T/y.safetensors"

# --- the README's walk-through on the bundled example vocabulary: train on
# samples/vocab, find its words in samples/vocab_demo.flac (a voice the takes
# do not have). The recording says lights on, play, hello, pause, lights
# off. A run passes when nothing is reported as _unknown_ or _silence_ and
# at least three of the four words come out, in order, with nothing else
# between them. Ten synthetic takes per word make one run a matter of luck
# (measured: seed 1 of the three-head default gives two extra "play"s at
# the onsets of "lights on" and "lights off"; one-head models of seeds 4
# and 7920 did the same). Of seeds 1-10, the default with the speed and
# front-end copies (auto at 10 takes per word) passes 5 (3, 4, 6, 7, 10),
# without them 6 (2 as well); so the check is on seeds 1-6, and at least
# half of them must pass (3, 4 and 6 do on the project's machine).
SRC="${EARSHOT_SRC:-$(cd "$(dirname -- "$0")/.." && pwd)}"
# the words of $1, in the recording's order, at least three of the four,
# nothing else (no rejection class, no extra word) between them
in_order() {
    awk -v got="$1" 'BEGIN {
        n = split("lights_on play pause lights_off", want, " "); m = split(got, g, " ")
        j = 1; hit = 0
        for (i = 1; i <= m; i++) { if (g[i] == "_unknown_" || g[i] == "_silence_") exit 1
                                    while (j <= n && want[j] != g[i]) j++
                                    if (j > n) exit 1
                                    hit++; j++ }
        exit !(hit >= 3) }'
}
passes=0
for seed in 1 2 3 4 5 6; do
expect 0 "train on samples/vocab (seed $seed)" -- "$BIN" train -q "$SRC/samples/vocab" -o "$T/vocab.safetensors" --seed $seed
expect 0 "transcribe samples/vocab_demo.flac (seed $seed)" -- "$BIN" transcribe -q -m "$T/vocab.safetensors" "$SRC/samples/vocab_demo.flac"
got=$(cut -f3 "$T/out" | tr '\n' ' ')
if in_order "$got"; then
    passes=$((passes + 1)); echo "     seed $seed: the demo recording: $got"
else
    echo "     seed $seed: the demo recording gave: '$got'"
fi
done
if [ $passes -ge 3 ]; then
    ok "the demo recording: $passes of 6 seeds find the words in order"
else
    bad "the demo recording: only $passes of 6 seeds find the words in order"
fi

# the demo's second model: the same recordings mixed with synthesised takes
# of the same words (scripts/demo.sh); measured with the running-speech
# negatives: exactly the four words for 8 of seeds 1-10 (3 hears the first
# "lights on" as "lights off", 5 misses it). The same in-order check, on
# the demo's seed.
expect 0 "train --words with --data samples/vocab" -- "$BIN" train -q \
    --words "lights_on=lights on,lights_off=lights off,pause,play" --data "$SRC/samples/vocab" -o "$T/mix.safetensors"
expect 0 "transcribe samples/vocab_demo.flac with it" -- "$BIN" transcribe -q -m "$T/mix.safetensors" "$SRC/samples/vocab_demo.flac"
got=$(cut -f3 "$T/out" | tr '\n' ' ')
in_order "$got" && ok "mixed model: the demo recording gives '$got'" ||
    bad "mixed model: the demo recording gave '$got'"

echo "$pass passed, $fail failed (train)"
[ "$fail" = 0 ]
