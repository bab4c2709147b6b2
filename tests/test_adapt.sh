#!/bin/bash
# End-to-end: earshot adapt on a reduced version of the FSDD protocol of
# issue 5 (the full one is bench/es_adapt_bench). Base model: two speakers
# (lucas, theo), takes 0-9 of every digit; held-out speaker nicolas adapts
# with 3 takes per digit (takes 0-2) and is tested on takes 10-24;
# retention is measured on takes 40-44 of lucas and theo. Then the refusals:
# another encoder, labels the model does not have, a bad method.
# Skips (77) without the models or ../shared/data/fsdd.
set -u
F=${EARSHOT_FSDD:-}
[ -n "$F" ] && [ -f "$F/0_george_0.wav" ] || { echo "SKIP: FSDD not found at ${F:-../shared/data/fsdd}"; exit 77; }
. "$(dirname -- "$0")/lib.sh"
cli_test_begin
PAT='{label}_{speaker}_{take}'
mkdir -p "$T/train" "$T/spk" "$T/tgt" "$T/ret"
for d in 0 1 2 3 4 5 6 7 8 9; do
    for s in lucas theo; do
        for t in $(seq 0 9); do ln -s "$F/${d}_${s}_$t.wav" "$T/train/"; done
        for t in $(seq 40 44); do ln -s "$F/${d}_${s}_$t.wav" "$T/ret/"; done
    done
    for t in 0 1 2; do ln -s "$F/${d}_nicolas_$t.wav" "$T/spk/"; done
    for t in $(seq 10 24); do ln -s "$F/${d}_nicolas_$t.wav" "$T/tgt/"; done
done
expect 0 "train the base model" -- "$BIN" train -q "$T/train" --pattern "$PAT" --val-fraction 0 -o "$T/base.safetensors"
acc() { "$BIN" eval -q "$1" "$2" --pattern "$PAT" | awk '/accuracy/ {print $4; exit}'; }
b_t=$(acc "$T/base.safetensors" "$T/tgt"); b_r=$(acc "$T/base.safetensors" "$T/ret")
echo "base: target $b_t, retention $b_r"
for m in naive l2sp ewc rehearsal ewc+rehearsal; do
    expect 0 "adapt --method $m" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" --pattern "$PAT" \
        --method $m -o "$T/$m.safetensors"
    t=$(acc "$T/$m.safetensors" "$T/tgt"); r=$(acc "$T/$m.safetensors" "$T/ret")
    echo "$m: target $t, retention $r"
    eval "t_${m/+/_}=$t r_${m/+/_}=$r"
    awk -v a="$t" -v b="$b_t" 'BEGIN {exit !(a >= b + 0.03)}' && ok "$m: target $b_t -> $t (+0.03 at least)" ||
        bad "$m: target $b_t -> $t"
done
# the penalties forget little, and no more than naive fine-tuning
for m in l2sp ewc ewc_rehearsal; do
    eval "r=\$r_$m"
    awk -v a="$r" -v b="$b_r" 'BEGIN {exit !(a >= b - 0.02)}' && ok "$m retention $b_r -> $r (drop <= 2 points)" ||
        bad "$m retention $b_r -> $r"
    awk -v a="$r" -v b="$r_naive" 'BEGIN {exit !(a >= b)}' && ok "$m retains at least as much as naive ($r >= $r_naive)" ||
        bad "$m retention $r < naive $r_naive"
done
expect 0 "adapt with the defaults" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" --pattern "$PAT" -o "$T/def.safetensors"
has "$T/out" "method ewc+rehearsal" "the default method is ewc+rehearsal"
has "$T/out" "^accuracy on the [0-9]* takes it adapted on: .* (training takes: test on others with earshot eval)" \
    "the accuracy after adapting is called a training figure"
cmp -s "$T/def.safetensors" "$T/ewc+rehearsal.safetensors" && ok "same seed, same bytes" || bad "a re-run with the same settings differs"
# the speaker's folder under a Latin-1 name: recorded in the card as U+FFFD
lat="$T/$(printf 'spk\xe9')"
cp -r "$T/spk" "$lat"
expect 0 "adapt from a folder with a Latin-1 name" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$lat" --pattern "$PAT" \
    -o "$T/lat.safetensors"
expect 0 "... and the adapted model loads" -- "$BIN" eval -q "$T/lat.safetensors" "$T/spk" --pattern "$PAT"
rm -rf "$lat"
base_sha=$(sha256sum "$T/base.safetensors" | cut -d' ' -f1)
grep -aq "base_model_sha256[^0-9a-f]*$base_sha" "$T/def.safetensors" && ok "the adapted model records the base model's SHA-256" ||
    bad "no base_model_sha256 in the adapted model"
grep -aq '"encoder_sha256"' "$T/def.safetensors" && ok "the adapted model records the encoder" || bad "no encoder hash"
commit=$("$BIN" --version | sed -n 's/^earshot [0-9.]* (commit \(.*\))$/\1/p')
[ -n "$commit" ] && grep -aq "earshot_commit[^a-z0-9]*$commit" "$T/def.safetensors" &&
    ok "the adaptation entry records the build's commit ($commit)" || bad "no earshot_commit '$commit' in the adapted model"
# the training data's class means travel with the model (es_selfadapt
# measures a voice against them), byte for byte
if command -v node >/dev/null; then
    node -e '
      const fs = require("fs");
      const means = f => { const b = fs.readFileSync(f); const n = Number(b.readBigUInt64LE(0));
        const t = JSON.parse(b.subarray(8, 8 + n).toString())["rehearsal.means"];
        return t ? b.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]).toString("hex") : null; };
      const a = means(process.argv[1]), b = means(process.argv[2]);
      if (!a || a !== b) throw new Error("class means lost or changed by adapt")' "$T/base.safetensors" "$T/def.safetensors" 2>"$T/err" &&
        ok "adapt keeps the base model's class means" || bad "class means: $(cat "$T/err")"
else
    skip "the class means adapt keeps" "node not found"
fi
expect 0 "eval --self-adapt of an adapted model" -- "$BIN" eval -q --self-adapt "$T/def.safetensors" "$T/tgt" --pattern "$PAT"
expect 0 "an adapted model adapts again" -- "$BIN" adapt -q "$T/def.safetensors" --speaker-data "$T/spk" --pattern "$PAT" \
    --method rehearsal -o "$T/again.safetensors"

# one word alone: a user personalising a single wake word gives one folder
mkdir -p "$T/one/7"
for t in 0 1 2; do ln -s "$F/7_nicolas_$t.wav" "$T/one/7/"; done
expect 0 "adapt on takes of a single word (one folder)" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/one" \
    -o "$T/one.safetensors"
has "$T/out" "to 3 takes of 1 label " "the single word's 3 takes were used"
r=$(acc "$T/one.safetensors" "$T/ret")
# all 3 takes (and their speed variants) say "7": without its penalty the
# head would drift toward always answering 7; ewc keeps everyone else
awk -v a="$r" -v b="$b_r" 'BEGIN {exit !(a >= b - 0.02)}' && ok "one-word ewc keeps retention ($b_r -> $r)" ||
    bad "one-word adaptation lost retention: $b_r -> $r"
expect 0 "eval of the one-word model on all digits" -- "$BIN" eval -q "$T/one.safetensors" "$T/tgt" --pattern "$PAT"
has "$T/out" "^150 clips, accuracy [01]\.[0-9]* (95% interval [01]\.[0-9]*-[01]\.[0-9]*)$" \
    "the one-word model still has all 10 labels and evaluates on all digits (150 clips, none skipped)"
mkdir -p "$T/empty/7"
expect 1 "a word folder without audio is refused" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/empty" \
    -o "$T/x.safetensors"
has "$T/err" "no audio files" "an empty word folder: says why"
expect 2 "--speed out of range" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/one" --speed 0.9 -o "$T/x.safetensors"
expect 2 "--shifts out of range" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/one" --shifts 0 -o "$T/x.safetensors"
expect 2 "--positions must be odd" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/one" --positions 4 -o "$T/x.safetensors"
grep -aqE 'speed_perturbation[\\"]*:0\.05,[\\"]*positions[\\"]*:9[,}]' "$T/one.safetensors" && ok "the card records the takes' 9 window positions" ||
    bad "no positions in the adapted model's card"
expect 0 "--positions 0 takes the model's" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/one" --positions 0 \
    -o "$T/pos0.safetensors"
grep -aqE 'speed_perturbation[\\"]*:0\.05,[\\"]*positions[\\"]*:5[,}]' "$T/pos0.safetensors" && ok "--positions 0: the model's 5" ||
    bad "--positions 0 did not take the model's 5 positions"
grep -aqE 'speed_perturbation[\\"]*:0\.05[,}]' "$T/one.safetensors" && ok "the card records the speed perturbation" ||
    bad "no speed_perturbation in the adapted model's card"

# --finetune 1: the encoder's last convolution is adapted too and travels
# in the model; eval runs it (a cache miss: another encoder identity)
expect 0 "adapt --finetune 1" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" --pattern "$PAT" \
    --finetune 1 -o "$T/ft.safetensors"
has "$T/out" "last 1 convolutions too" "says the encoder was adapted"
has "$T/out" "method ewc," "with --finetune the default method is ewc (no rehearsal rows)"
grep -aqE 'finetune[\\"]*:1[,}]' "$T/ft.safetensors" && ok "the card says finetune 1" || bad "no finetune in the adapted model's card"
expect 1 "eval --self-adapt of a fine-tuned model" -- "$BIN" eval -q --self-adapt "$T/ft.safetensors" "$T/tgt" --pattern "$PAT"
has "$T/err" "carries no class means" "... refused: its embeddings are not the ones the means were measured on"
t=$(acc "$T/ft.safetensors" "$T/tgt"); r=$(acc "$T/ft.safetensors" "$T/ret")
echo "ewc --finetune 1: target $t, retention $r"
awk -v a="$t" -v b="$b_t" 'BEGIN {exit !(a >= b + 0.03)}' && ok "finetune: target $b_t -> $t (+0.03 at least)" ||
    bad "finetune: target $b_t -> $t"
awk -v a="$r" -v b="$b_r" 'BEGIN {exit !(a >= b - 0.02)}' && ok "finetune: retention $b_r -> $r (drop <= 2 points)" ||
    bad "finetune: retention $b_r -> $r"
cmp -s "$T/ft.safetensors" "$T/ewc.safetensors" && bad "the fine-tuned model equals the head-only one" ||
    ok "the fine-tuned model differs from the head-only one"
expect 1 "adapting a fine-tuned model is refused" -- "$BIN" adapt -q "$T/ft.safetensors" --speaker-data "$T/spk" --pattern "$PAT" \
    -o "$T/x.safetensors"
has "$T/err" "is a fine-tuned model" "a fine-tuned base: says why"
expect 1 "--finetune with --method rehearsal is refused" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" \
    --pattern "$PAT" --finetune 1 --method rehearsal -o "$T/x.safetensors"
has "$T/err" "rehearsal cannot fine-tune" "rehearsal + finetune: says why"

# a model without a rehearsal buffer (as trained before buffers existed):
# the default falls back to l2sp; an explicit ewc or rehearsal is refused
if command -v node >/dev/null; then
    node -e '
      const fs = require("fs"); const b = fs.readFileSync(process.argv[1]);
      const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
      const data = b.subarray(8 + n); const out = {}; const parts = []; let off = 0;
      for (const [k, v] of Object.entries(h)) {
        if (k === "__metadata__") { out[k] = v; continue; }
        if (k.startsWith("rehearsal.")) continue;
        const d = data.subarray(v.data_offsets[0], v.data_offsets[1]);
        out[k] = {dtype: v.dtype, shape: v.shape, data_offsets: [off, off + d.length]}; off += d.length; parts.push(d);
      }
      let j = JSON.stringify(out); while ((8 + j.length) % 8) j += " ";
      const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(Buffer.byteLength(j)));
      fs.writeFileSync(process.argv[2], Buffer.concat([len, Buffer.from(j), ...parts]));' "$T/base.safetensors" "$T/nobuf.safetensors"
    expect 0 "a model without a buffer still evaluates" -- "$BIN" eval -q "$T/nobuf.safetensors" "$T/tgt" --pattern "$PAT"
    expect 0 "the default adapts a model without a buffer (l2sp)" -- "$BIN" adapt -q "$T/nobuf.safetensors" --speaker-data "$T/spk" \
        --pattern "$PAT" -o "$T/nobuf2.safetensors"
    has "$T/out" "method l2sp" "without a buffer the default falls back to l2sp"
    expect 1 "--method rehearsal without a buffer is refused" -- "$BIN" adapt -q "$T/nobuf.safetensors" --speaker-data "$T/spk" \
        --pattern "$PAT" --method rehearsal -o "$T/x.safetensors"
    has "$T/err" "no rehearsal buffer" "no buffer: says why"
    # a tensor that is none of the heads' (the base is an ensemble of 3,
    # whose heads adapt alike): adapt must not silently drop it
    node -e '
      const fs = require("fs"); const b = fs.readFileSync(process.argv[1]);
      const n = Number(b.readBigUInt64LE(0)); const h = JSON.parse(b.subarray(8, 8 + n).toString());
      const data = b.subarray(8 + n); const end = data.length;
      const extra = Buffer.alloc(16);
      h["head.1.extra"] = {dtype: "F32", shape: [4], data_offsets: [end, end + 16]};
      let j = JSON.stringify(h); while ((8 + j.length) % 8) j += " ";
      const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(Buffer.byteLength(j)));
      fs.writeFileSync(process.argv[2], Buffer.concat([len, Buffer.from(j), data, extra]));' "$T/base.safetensors" "$T/twohead.safetensors"
    expect 1 "a model with a tensor no head owns is refused" -- "$BIN" adapt -q "$T/twohead.safetensors" \
        --speaker-data "$T/spk" --pattern "$PAT" -o "$T/x.safetensors"
    has "$T/err" "head.1.extra" "an extra head's tensor: named in the error"
else
    skip "the no-buffer and extra-tensor checks" "node not found"
fi

# --- refusals
sha=$(grep -ao '"encoder_sha256":"[0-9a-f]*"' "$T/def.safetensors" | head -1 | cut -d'"' -f4)
other=$(echo "$sha" | tr '0-9a-f' '1-9a-f0')
sed "s/$sha/$other/" "$T/def.safetensors" > "$T/other.safetensors"
expect 1 "an adapted model of another encoder is refused by eval" -- "$BIN" eval -q "$T/other.safetensors" "$T/tgt" --pattern "$PAT"
has "$T/err" "another encoder" "eval: says why"
expect 1 "adapting a model of another encoder is refused" -- "$BIN" adapt -q "$T/other.safetensors" --speaker-data "$T/spk" \
    --pattern "$PAT" -o "$T/x.safetensors"
has "$T/err" "another encoder" "adapt: says why"
# a silent take would teach the model that silence is the word
mkdir -p "$T/withsil"
cp -P "$T/spk/"* "$T/withsil/"
sox -n -r 8000 -b 16 -c 1 "$T/withsil/5_nicolas_9.wav" trim 0 1 2>/dev/null
expect 1 "a silent take is refused" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/withsil" --pattern "$PAT" -o "$T/x.safetensors"
has "$T/err" "5_nicolas_9.wav: no speech: silent" "silent take: names the file"
[ -e "$T/x.safetensors" ] && bad "a refused adapt wrote a model" || ok "no model written"
expect 2 "--finetune with --speed is refused (it would be ignored)" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" \
    --pattern "$PAT" --finetune 1 --speed 0.1 -o "$T/x.safetensors"
expect 2 "a missing output folder is refused before any work" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" \
    --pattern "$PAT" -o "$T/no/such.safetensors"
# a NaN weight: the file is named as damaged, not adapt's learning rate blamed
python3 - "$T/def.safetensors" "$T/nan.safetensors" <<'PY'
import json, struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', d[:8])[0]
h = json.loads(d[8:8 + n])
a = h['head.0.weight']['data_offsets'][0] if 'head.0.weight' in h else min(v['data_offsets'][0] for k, v in h.items() if k != '__metadata__')
d[8 + n + a:8 + n + a + 4] = b'\xff\xff\xff\xff'
open(sys.argv[2], 'wb').write(d)
PY
expect 1 "a model holding a NaN weight is refused" -- "$BIN" adapt -q "$T/nan.safetensors" --speaker-data "$T/spk" --pattern "$PAT" -o "$T/x.safetensors"
has "$T/err" "nan.safetensors: tensor .* not finite" "NaN weight: names the file and the tensor"
expect 1 "an ONNX head given to adapt says what it is" -- "$BIN" adapt -q "$("$BIN" models 2>/dev/null | awk '$1 == "alexa" {print $NF}')" \
    --speaker-data "$T/spk" --pattern "$PAT" -o "$T/x.safetensors"
has "$T/err" "an ONNX model" "ONNX head: says it is not an earshot train model"
msha=$(grep -ao '"melspectrogram_sha256":"[0-9a-f]*"' "$T/def.safetensors" | head -1 | cut -d'"' -f4)
mother=$(echo "$msha" | tr '0-9a-f' '1-9a-f0')
sed "s/$msha/$mother/" "$T/def.safetensors" > "$T/othermel.safetensors"
expect 1 "adapting a model of another log-mel front end is refused" -- "$BIN" adapt -q "$T/othermel.safetensors" \
    --speaker-data "$T/spk" --pattern "$PAT" -o "$T/x.safetensors"
has "$T/err" "othermel.safetensors: made with another log-mel front end" "adapt: names the file, says why"
mkdir -p "$T/words/yes" "$T/words/no"
ln -s "$F/0_theo_0.wav" "$T/words/yes/"; ln -s "$F/1_theo_0.wav" "$T/words/no/"
expect 1 "takes of words the model does not know are refused" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/words" \
    -o "$T/x.safetensors"
has "$T/err" "not one of the model's labels" "unknown label: says why"
expect 2 "an unknown method" -- "$BIN" adapt -q "$T/base.safetensors" --speaker-data "$T/spk" --method magic -o "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] && ok "nothing written after a refusal" || bad "a model was written after a refusal"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
