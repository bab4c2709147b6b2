#!/bin/bash
# End-to-end: earshot train / eval on a small vocabulary the test makes
# itself with espeak-ng, and the bad inputs of issue 3: empty label folder,
# one label, a corrupt / truncated / foreign-encoder model, a write that
# fails (file size limit standing in for a full disk). Skips (77) without
# the models or espeak-ng.
set -u
BIN=${EARSHOT_BIN:?run through meson test}
if ! "$BIN" models >/dev/null 2>&1; then echo "SKIP: pretrained models not found (run scripts/fetch-models.sh)"; exit 77; fi
command -v espeak-ng >/dev/null || { echo "SKIP: espeak-ng not installed (scripts/setup.sh installs it)"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export EARSHOT_CACHE="$T/cache"
. "$(dirname -- "$0")/lib.sh"

# a three-word vocabulary ("lights on" has a space in its label) in 4 voices x 3 speeds
for w in "yes" "stop" "lights on"; do
    mkdir -p "$T/data/$w"
    for v in en-us en en+m3 en+f3; do for s in 120 150 180; do
        espeak-ng -v "$v" -s "$s" -w "$T/data/$w/${v}_$s.wav" "$w" 2>/dev/null
    done; done
done
expect 0 "train on a synthesized vocabulary" -- "$BIN" train -q "$T/data" -o "$T/m.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "trained mlp head on" "train reports what it did"
has "$T/out" "by file-name hash" "the split is by hash when speakers are unknown"
[ -f "$T/m.safetensors" ] && ok "model written" || bad "no model file"
expect 0 "second train reuses the cache" -- "$BIN" train -q "$T/data" -o "$T/m2.safetensors" --val-fraction 0.25 --epochs 80
has "$T/out" "(36 of 36 clips from the cache)" "second run: every clip from the cache"
cmp -s "$T/m.safetensors" "$T/m2.safetensors" && ok "same seed, same bytes" || bad "a retrain with the same seed differs"
expect 0 "eval" -- "$BIN" eval -q "$T/m.safetensors" "$T/data"
acc=$(awk '/accuracy/ {print $4; exit}' "$T/out")
awk -v a="$acc" 'BEGIN {exit !(a >= 0.9)}' && ok "eval accuracy on the training vocabulary $acc >= 0.9" || bad "eval accuracy $acc"
has "$T/out" "lights on" "labels with spaces survive the round trip"
expect 0 "eval --json" -- "$BIN" eval -q --json "$T/m.safetensors" "$T/data"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.clips !== 36 || r.labels.length !== 3 || r.confusion.length !== 3) throw new Error("shape")' "$T/out" 2>"$T/err" &&
    ok "eval --json parses" || bad "eval --json: $(cat "$T/err")"
node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
  const m = h.__metadata__;
  for (const k of ["labels", "architecture", "encoder_sha256", "split", "metrics", "seed", "earshot.version"])
    if (!(k in m)) throw new Error("model card lacks " + k);
  if (JSON.parse(m.labels).join() !== "lights on,stop,yes") throw new Error(m.labels);' "$T/m.safetensors" 2>"$T/err" &&
    ok "model card holds labels, architecture, encoder hash, split, metrics, seed" || bad "model card: $(cat "$T/err")"

# --- bad input
mkdir -p "$T/one/yes" && cp "$T/data/yes/"*.wav "$T/one/yes/"
expect 1 "one label is refused" -- "$BIN" train -q "$T/one" -o "$T/x.safetensors"
has "$T/err" "two labels" "one label: says why"
mkdir -p "$T/empty/yes" "$T/empty/no" && cp "$T/data/yes/"*.wav "$T/empty/yes/"
expect 1 "an empty label folder is refused" -- "$BIN" train -q "$T/empty" -o "$T/x.safetensors"
has "$T/err" "no" "empty label folder: named"
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
expect 0 "train --scratch" -- "$BIN" train -q "$T/data" -o "$T/sc.safetensors" --val-fraction 0.25 --epochs 20 --scratch
has "$T/out" "from-scratch CNN baseline" "train --scratch reports it"
expect 0 "eval of the scratch baseline" -- "$BIN" eval -q "$T/sc.safetensors" "$T/data"
has "$T/out" "36 clips, accuracy" "eval runs the scratch baseline"
expect 2 "--scratch with --finetune is a usage error" -- "$BIN" train --scratch --finetune 1 "$T/data" -o "$T/y.safetensors"
expect 2 "--finetune above 20 is a usage error" -- "$BIN" train --finetune 21 "$T/data" -o "$T/y.safetensors"

echo "$pass passed, $fail failed (train)"
[ "$fail" = 0 ]
