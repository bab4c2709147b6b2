#!/bin/bash
# End-to-end: earshot train --learning-curve on a small vocabulary the test
# makes with espeak-ng, where each voice is a "speaker" (flat FSDD-style
# names), so splits hold out whole voices. Checks the table, the JSON (the
# means are the means of the runs, the splits are disjoint halves),
# determinism, explicit splits, the from-scratch column, synthetic takes
# mixed in (--words) and the refusals.
# Skips (77) without the models or espeak-ng.
set -u
. "$(dirname -- "$0")/lib.sh"
cli_test_begin espeak-ng node

# three words x four voices (the speakers) x three speeds (the takes)
mkdir -p "$T/data"
for w in yes stop go; do
    for v in en-us en en+m3 en+f3; do for s in 120 150 180; do
        espeak-ng -v "$v" -s "$s" -w "$T/data/${w}_${v}_$s.wav" "$w" 2>/dev/null
    done; done
done
P='{label}_{speaker}_{take}'
C=(train -q --learning-curve --pattern "$P" "$T/data" --no-scratch --shots-list 1,2,0 --splits 2 --seeds 2)

expect 0 "learning curve on a synthesized vocabulary" -- "$BIN" "${C[@]}"
has "$T/out" "mean +- std over 2 splits x 2 seeds" "says what is averaged"
for k in 1 2 all; do
    grep -Eq "^$k +[01]\.[0-9]{3} \+- [0-9.]+ \(n=4\)" "$T/out" && ok "row '$k' with mean +- std (n=4)" || bad "row $k: $(cat "$T/out")"
done
has "$T/out" "| test: " "prints the splits"

expect 0 "learning curve --json" -- "$BIN" "${C[@]}" --json
cp "$T/out" "$T/a.json"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.rows.length !== 3 || r.rows[2].shots !== "all" || r.rows[0].shots !== 1) throw new Error("rows " + JSON.stringify(r.rows.map(x => x.shots)));
  if (r.splits.length !== 2) throw new Error("splits");
  const seen = new Set();
  for (const s of r.splits) {
    const [tr, te] = s.replace("train: ", "").split(" | test: ").map(x => x.split(","));
    if (tr.length !== 2 || te.length !== 2 || tr.some(x => te.includes(x))) throw new Error("split not disjoint halves: " + s);
    if (seen.has(te.sort().join())) throw new Error("repeated split " + s);
    seen.add(te.sort().join());
  }
  for (const row of r.rows) {
    const v = row.pretrained.runs;
    if (v.length !== 4 || row.n !== 4) throw new Error("runs");
    if (v.some(a => !(a >= 0 && a <= 1))) throw new Error("accuracy out of range");
    const m = v.reduce((a, b) => a + b) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
    if (Math.abs(m - row.pretrained.mean) > 1e-5 || Math.abs(sd - row.pretrained.std) > 1e-5) throw new Error("mean/std");
    if (row.scratch !== null) throw new Error("scratch should be null with --no-scratch");
  }
  const all = r.rows[2].pretrained.mean;
  if (!(all >= 0.6)) throw new Error("all-data accuracy on unseen voices " + all + " < 0.6 (chance is 0.33)");
  ' "$T/a.json" 2>"$T/jerr" && ok "JSON: rows, disjoint distinct splits, means and stds of the runs, accuracy above chance" ||
    bad "JSON: $(cat "$T/jerr")"

expect 0 "a second run (from the cache)" -- "$BIN" "${C[@]}" --json
sed 's/"seconds": [0-9.]*,//' "$T/a.json" > "$T/a1"; sed 's/"seconds": [0-9.]*,//' "$T/out" > "$T/a2"
cmp -s "$T/a1" "$T/a2" && ok "same seed, same table" || bad "a rerun differs"

expect 0 "explicit splits" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch --shots-list 2 \
    --seeds 1 --test-speakers en+f3,en --test-speakers en-us
has "$T/out" "split 1: train: en+m3,en-us | test: en,en+f3" "explicit split 1 as given (speakers sorted by name)"
has "$T/out" "split 2: train: en,en+f3,en+m3 | test: en-us" "explicit split 2 as given"

# every split once: 4 speakers, 2 held out, C(4,2) = 6 splits, all distinct
expect 0 "--splits all" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch --shots-list 1 \
    --splits all --seeds 1 --json
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const tests = r.splits.map(s => s.split(" | test: ")[1].split(",").sort().join());
  if (r.splits.length !== 6 || new Set(tests).size !== 6) throw new Error("splits " + JSON.stringify(r.splits));
  if (r.splits.some(s => s.split(" | test: ")[1].split(",").length !== 2)) throw new Error("not halves");
  if (r.rows[0].n !== 6) throw new Error("runs " + r.rows[0].n);
  ' "$T/out" 2>"$T/jerr" && ok "--splits all: the 6 distinct halves, one run each" || bad "--splits all: $(cat "$T/jerr")"
cp "$T/out" "$T/all1.json"
expect 0 "--splits all again, another --seed" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch \
    --shots-list 1 --splits all --seeds 1 --seed 5 --json
node -e '
  const fs = require("fs");
  const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")), b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  if (JSON.stringify(a.splits) !== JSON.stringify(b.splits)) throw new Error(a.splits + " / " + b.splits);
  ' "$T/all1.json" "$T/out" 2>"$T/jerr" && ok "... the same splits whatever the seed (no draw)" || bad "seed moved the splits: $(cat "$T/jerr")"
# 14 speakers split in half 3,432 ways: refused, not a 3,432-split run
mkdir -p "$T/many"
for k in $(seq 10 23); do for w in yes stop go; do cp "$T/data/${w}_en_120.wav" "$T/many/${w}_s${k}_0.wav"; done; done
expect 1 "--splits all with 14 speakers" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/many" --splits all
has "$T/err" "more than 1,000 ways" "... refused, saying why"
expect 2 "--splits with a bad value" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --splits most

expect 0 "the from-scratch column, and its chart" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" \
    --shots-list 1,0 --splits 1 --seeds 1 --epochs 5 --json --plot "$T/curve.svg"
node -e '
  const fs = require("fs");
  const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const s = r.rows[0].scratch;
  if (!r.scratch_available || !s || s.runs.length !== 1 || !(s.mean >= 0 && s.mean <= 1)) throw new Error(JSON.stringify(r.rows[0]));
  // the chart shows both series, each row once, with the values of the table
  const svg = fs.readFileSync(process.argv[2], "utf8");
  if (!svg.startsWith("<?xml") || !svg.trimEnd().endsWith("</svg>")) throw new Error("not a whole SVG document");
  for (const t of [">pretrained encoder<", ">from scratch<", ">1<", ">all (" + r.rows[1].clips_per_label[1] + ")<",
                   ">" + r.rows[0].pretrained.mean.toFixed(3) + "<", ">" + s.mean.toFixed(3) + "<"])
    if (!svg.includes(t)) throw new Error("the chart lacks " + t);
  if ((svg.match(/<circle/g) || []).length !== 4) throw new Error("expected 2 rows x 2 series of points");
  ' "$T/out" "$T/curve.svg" 2>"$T/jerr" && ok "JSON: a from-scratch accuracy beside the pretrained one; the chart has both, with the table's values" ||
    bad "scratch: $(cat "$T/jerr")"

# --plot: refused before minutes of training when it could not be written
expect 2 "--plot without --learning-curve" -- "$BIN" train -q "$T/data" --pattern "$P" -o "$T/m.safetensors" --plot "$T/c.svg"
has "$T/err" "add --learning-curve" "says what --plot needs"
expect 2 "--plot to a .png name" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --plot "$T/c.png"
has "$T/err" "name the file .svg" "says the chart is SVG"
expect 2 "--plot into a missing folder" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --plot "$T/nope/c.svg"
has "$T/err" "$T/nope does not exist" "names the missing folder"
[ ! -e "$T/m.safetensors" ] && [ ! -e "$T/c.png" ] && ok "nothing written after the refusals" || bad "a refusal wrote a file"

# a dataset path with a quote and a backslash still gives valid JSON
Q="$T/da\"ta\\x"
mkdir -p "$Q" && cp "$T/data/"*.wav "$Q/"
expect 0 "a quoted dataset path" -- "$BIN" train -q --learning-curve --pattern "$P" "$Q" --no-scratch --shots-list 1 \
    --splits 1 --seeds 1 --json
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.dataset !== process.argv[2]) throw new Error(r.dataset);' "$T/out" "$Q" 2>"$T/jerr" &&
    ok "JSON escapes the dataset path" || bad "quoted path: $(cat "$T/jerr")"

# synthetic takes of the words mixed into every run (--words): 6 takes per
# word, real clips repeated to weigh 2 x 6 = 12 per label. At 1 shot that is
# 1 clip x 12 repeats, with all (2 training voices x 3 takes = 6 per label)
# 6 x 2; either way 12 + 6 takes = 18 training clips per label.
expect 0 "learning curve with --words" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch \
    --shots-list 1,0 --splits 2 --seeds 1 --words "yes,stop,go" -n 6 --unknown 0 --real-weight 2 \
    --synth-cache "$T/synth" --json
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const s = r.synthetic;
  if (!s || s.takes_per_word !== 6 || s.real_weight !== 2 || !s.dir.startsWith(process.argv[2])) throw new Error("synthetic " + JSON.stringify(s));
  for (const row of r.rows) {
    const c = row.clips_per_label;
    if (c[0] !== 18 || c[1] !== 18) throw new Error("row " + row.shots + ": clips per label " + c + ", not 18");
    if (row.pretrained.runs.length !== 2 || row.pretrained.runs.some(a => !(a >= 0 && a <= 1))) throw new Error("runs");
  }
  ' "$T/out" "$T/synth/" 2>"$T/jerr" && ok "JSON: the takes are named and every run trains on them plus the repeated real clips" ||
    bad "--words: $(cat "$T/jerr")"
expect 0 "the same curve as text" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch \
    --shots-list 1 --splits 1 --seeds 1 --words "yes,stop,go" -n 6 --unknown 0 --synth-cache "$T/synth"
has "$T/out" "also trains on the synthetic takes of --words (6 per word" "the table says the takes are mixed in"
# recordings of other speech (_unknown_, Speech Commands names for the
# speakers) need no synthetic _unknown_ takes, as in train --words --data
mkdir -p "$T/sc"
for w in yes stop go hello; do
    l=$w; [ "$w" = hello ] && l=_unknown_
    mkdir -p "$T/sc/$l"
    for v in en-us en en+m3 en+f3; do espeak-ng -v "$v" -s 150 -w "$T/sc/$l/${v}_nohash_0.wav" "$w" 2>/dev/null; done
done
expect 0 "the curve with --words and recordings of _unknown_" -- "$BIN" train -q --learning-curve "$T/sc" --no-scratch \
    --shots-list 0 --splits 1 --seeds 1 --words "yes,stop,go" -n 6 --unknown 0 --synth-cache "$T/synth" --json
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const c = r.rows[0].clips_per_label;
  if (!r.synthetic || c[1] !== 8) throw new Error("clips per label " + c + ", not 8 (2 voices x 1 recording + 6 takes)");
  ' "$T/out" 2>"$T/jerr" && ok "... trains on the takes and the recordings" || bad "_unknown_ recordings: $(cat "$T/jerr")"
expect 0 "the curve with --speak-labels" -- "$BIN" train --learning-curve "$T/sc" --no-scratch \
    --shots-list 0 --splits 1 --seeds 1 --speak-labels -n 6 --unknown 0 --synth-cache "$T/synth" --json
has "$T/err" '--speak-labels: --words "go=go,stop=stop,yes=yes"' "... the words are the labels, _unknown_ left out"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const c = r.rows[0].clips_per_label;
  if (!r.synthetic || c[1] !== 8) throw new Error("clips per label " + c + ", not 8");
  ' "$T/out" 2>"$T/jerr" && ok "... and trains on their takes as --words does" || bad "--speak-labels curve: $(cat "$T/jerr")"
expect 1 "a label that --words does not name" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --no-scratch \
    --words "yes,stop" -n 6 --unknown 0 --synth-cache "$T/synth"
has "$T/err" "label 'go' has no synthetic takes" "a label without takes: named"
expect 2 "--data with the learning curve" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --words "yes,stop,go" \
    --data "$T/data"

# --- refusals
expect 1 "an unknown held-out speaker" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --test-speakers nobody
has "$T/err" "no speaker 'nobody'" "unknown speaker: named"
expect 1 "holding out every speaker" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/data" --test-speakers en,en-us,en+m3,en+f3
has "$T/err" "some but not all" "all speakers held out: says why"
mkdir -p "$T/folders/yes" "$T/folders/stop"
cp "$T/data/yes_"*.wav "$T/folders/yes/"; cp "$T/data/stop_"*.wav "$T/folders/stop/"
expect 1 "a dataset without speakers" -- "$BIN" train -q --learning-curve "$T/folders"
has "$T/err" "names none" "no speakers: says why"
mkdir -p "$T/one"; cp "$T/data/"*_en-us_*.wav "$T/one/"
expect 1 "a single speaker" -- "$BIN" train -q --learning-curve --pattern "$P" "$T/one"
has "$T/err" "at least two speakers" "one speaker: says why"
expect 2 "-o with --learning-curve" -- "$BIN" train --learning-curve "$T/data" -o "$T/x.safetensors"
expect 2 "bad --shots-list" -- "$BIN" train --learning-curve "$T/data" --shots-list 1,x
expect 2 "bad --seeds" -- "$BIN" train --learning-curve "$T/data" --seeds 0
[ ! -e "$T/x.safetensors" ] && ok "no model written" || bad "a model was written"

echo "$pass passed, $fail failed (curve)"
[ "$fail" = 0 ]
