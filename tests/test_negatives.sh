#!/bin/bash
# End-to-end: other talk taught as _unknown_ (earshot train --negatives, and
# long _unknown_ clips). A two-word vocabulary and two recordings of talk
# full of near words ("yesterday", "stock", "step", "top") that never say
# them, one to train on and one, in another voice and rate, held out. The
# test checks the windows taken (against the embeddings `earshot embed`
# gives), that the held-out talk fires less and the words still fire, the
# model card, the cap (spread and mined), wake-word mode, and the refusals. Skips (77) without
# the models or espeak-ng.
set -u
. "$(dirname -- "$0")/lib.sh"
cli_test_begin espeak-ng

for w in yes stop; do
    mkdir -p "$T/data/$w"
    for v in en-us en en+m3 en+f3; do for s in 120 150 180; do
        espeak-ng -v "$v" -s "$s" -w "$T/data/$w/${v}_$s.wav" "$w" 2>/dev/null
    done; done
done
mkdir -p "$T/data/_unknown_" "$T/talkA" "$T/talkB"
for w in hello window; do espeak-ng -v en-us -w "$T/data/_unknown_/$w.wav" "$w" 2>/dev/null; done
txt="Yesterday the step was steep. A stock of tops and stamps sat on the desk. Jess said the rest was best.
Guess what, the test is less. The bus is here yet we step on. Stuff and staff and stem. Less mess, yet the
dress is blessed. Top to bottom, the shop was a swap. Spot the star, stomp the stone."
espeak-ng -v en-us -s 150 -w "$T/talkA/a.wav" "$txt $txt" 2>/dev/null
espeak-ng -v en+f3 -s 165 -w "$T/talkB/b.wav" "$txt $txt" 2>/dev/null
# the words, in voices no training clip uses
for v in en-us+m7 en-gb-x-rp; do espeak-ng -v "$v" -s 140 -w "$T/pos_$v.wav" "yes. . . . . stop. . . . . yes. . . . . stop" 2>/dev/null; done

train() { "$BIN" train -q "$@" --val-fraction 0.25 --epochs 80; }
card_talk() {   # the model card's data.other_talk as "label files windows train_rows hop", or "-"
    node -e '
  const b = require("fs").readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
  const d = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.data); const o = d.other_talk;
  console.log(o ? [o.label, o.files, o.windows, o.train_rows, o.hop_seconds].join(" ") : "-")' "$1"
}
# events MODEL FILE [OPTION...]: how many events transcribe reports; "failed"
# (no number, so no count check can pass) when transcribe itself fails
events() { local n; n=$(set -o pipefail; "$BIN" transcribe -q -m "$1" "${@:3}" "$2" | { grep -c . || true; }) || n=failed; echo "$n"; }

expect 0 "train without other talk" -- train "$T/data" -o "$T/base.safetensors"
grep -q "other talk" "$T/out" && bad "short _unknown_ clips were taken as talk" || ok "short _unknown_ clips give no talk windows"
[ "$(card_talk "$T/base.safetensors")" = "-" ] && ok "and the card has no other_talk" || bad "card: $(card_talk "$T/base.safetensors")"

# the windows: every 4th embedding start that sees only the audio (stream
# embeddings skip the 9 primed ones), for a window of 8
expect 0 "earshot embed --stream the training talk" -- "$BIN" embed -q --stream --pad-to 2 -o "$T/emb" "$T/talkA/a.wav"
count=$(node -e 'const b = require("fs").readFileSync(process.argv[1]); const h = b.subarray(10, 10 + b.readUInt16LE(8)).toString();
  console.log(/shape.: \((\d+),/.exec(h)[1])' "$T/emb/a.npy")
want=$(( (count - 9 - 8) / 4 + 1 ))
expect 0 "train --negatives talkA" -- train "$T/data" -o "$T/neg.safetensors" --negatives "$T/talkA"
has "$T/out" "^other talk: $want windows of 1 file, 0.32 s apart, taught as _unknown_" "all $want windows of the talk's $count embeddings"
[ "$(card_talk "$T/neg.safetensors")" = "_unknown_ 1 $want $want 0.32" ] && ok "the card records them" ||
    bad "card: $(card_talk "$T/neg.safetensors")"
# a file over 30 s is embedded while it is read, not decoded whole: its
# cache entry must hold the very numbers `earshot embed --stream` gives
# (which test_cli checks against the same samples decoded whole)
[ "$count" -gt 400 ] || bad "the training talk is under 32 s ($count embeddings): the streamed path is not tested"
node -e '
  const fs = require("fs"), path = require("path");
  // the array only: a cache entry has a checksum trailer after it (cache.h)
  const rd = p => { const b = fs.readFileSync(p), hl = b.readUInt16LE(8);
    const n = Number(/shape.: \((\d+),/.exec(b.subarray(10, 10 + hl).toString())[1]);
    return {n, data: b.subarray(10 + hl, 10 + hl + n * 96 * 4)}; };
  const walk = d => fs.readdirSync(d, {withFileTypes: true}).flatMap(e =>
    e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".npy") ? [path.join(d, e.name)] : []);
  const want = rd(process.argv[1]), same = walk(process.argv[2]).map(rd).filter(e => e.n === want.n);
  process.exit(same.length === 1 && Buffer.compare(same[0].data, want.data) === 0 ? 0 : 1)' "$T/emb/a.npy" "$EARSHOT_CACHE" &&
    ok "the streamed cache entry of the ${count}-embedding talk is byte for byte embed --stream" ||
    bad "the cache entry of talkA differs from embed --stream (or is missing)"
expect 0 "again" -- train "$T/data" -o "$T/neg2.safetensors" --negatives "$T/talkA"
cmp -s "$T/neg.safetensors" "$T/neg2.safetensors" && ok "same seed, same bytes" || bad "a retrain with the same seed differs"

# what it buys: events on the held-out talk (another voice and rate; measured
# 23 without, 3 with), and the words still fire in unseen voices
nb=$(events "$T/base.safetensors" "$T/talkB") nn=$(events "$T/neg.safetensors" "$T/talkB")
[ "$nb" -ge 10 ] && ok "the held-out talk fools the plain model ($nb events)" || bad "the plain model fired only $nb times: the test talk proves nothing"
[ "$nn" -ge 0 ] && [ "$((nn * 3))" -le "$nb" ] && ok "with the other talk it fires at most a third as often ($nn)" || bad "with the other talk: $nn events, without: $nb"
[ "$(events "$T/neg.safetensors" "$T/talkA")" -le 2 ] && ok "and hardly on the talk it learnt" || bad "on its own talk: $(events "$T/neg.safetensors" "$T/talkA")"
for v in en-us+m7 en-gb-x-rp; do
    got=$("$BIN" transcribe -q -m "$T/neg.safetensors" "$T/pos_$v.wav" | cut -f3 | tr '\n' ' ')
    [ "$got" = "yes stop yes stop " ] && ok "the words still fire in $v: $got" || bad "$v: '$got', wanted 'yes stop yes stop'"
done

# the rehearsal buffer keeps 128 windows of the talk as _unknown_, so that
# `earshot adapt` does not undo what it taught
reh_unknown() {   # rows of _unknown_ in a model's rehearsal buffer
    node -e '
  const b = require("fs").readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString()); const labels = JSON.parse(h.__metadata__.labels);
  const t = h["rehearsal.y"], [s, e] = t.data_offsets, u = labels.indexOf("_unknown_");
  let c = 0; for (let i = s; i < e; i += 4) c += b.readFloatLE(8 + n + i) === u;
  console.log(c)' "$1"
}
nu_base=$(reh_unknown "$T/base.safetensors") nu_neg=$(reh_unknown "$T/neg.safetensors")
[ "$nu_neg" = $((nu_base + 128)) ] && ok "rehearsal: 128 talk windows join the $nu_base _unknown_ rows" ||
    bad "rehearsal _unknown_ rows: $nu_base without talk, $nu_neg with"
mkdir -p "$T/spk/yes" "$T/spk/stop"
for w in yes stop; do for i in 1 2 3; do
    espeak-ng -v en-us+m7 -s $((130 + i * 15)) -p $((40 + i * 5)) -w "$T/spk/$w/t$i.wav" "$w" 2>/dev/null
done; done
expect 0 "adapt the talk-trained model to one voice" -- "$BIN" adapt "$T/neg.safetensors" --speaker-data "$T/spk" -o "$T/adapted.safetensors"
na=$(events "$T/adapted.safetensors" "$T/talkB")
[ "$na" -ge 0 ] && [ "$((na * 3))" -le "$nb" ] && ok "adapted, it still fires at most a third as often on the held-out talk ($na, plain $nb)" ||
    bad "adapted: $na events on the held-out talk (before adapting $nn, plain model $nb)"

# a long _unknown_ clip is talk too: the same windows as --negatives
cp -r "$T/data" "$T/data2" && cp "$T/talkA/a.wav" "$T/data2/_unknown_/talk.wav"
expect 0 "train with the talk in _unknown_/" -- train "$T/data2" -o "$T/unk.safetensors" --val-fraction 0
has "$T/out" "^other talk: $want windows of 1 file" "a long _unknown_ clip gives its $want windows"

# eval decides a clip by its centre window: with long talk in a test set's
# _unknown_/ it says so, and points to transcribe
expect 0 "eval with the talk in _unknown_/" -- "$BIN" eval "$T/base.safetensors" "$T/data2"
has "$T/out" "^note: 1 _unknown_ clip is longer than the model's clips (up to [34][0-9] s), each decided by its centre window only" \
    "eval notes the long _unknown_ clip"
expect 0 "eval --json with it" -- "$BIN" eval --json "$T/base.safetensors" "$T/data2"
has "$T/out" '"long_unknown_clips": 1' "and counts it in --json"
expect 0 "eval --json of short clips" -- "$BIN" eval --json "$T/base.safetensors" "$T/data"
has "$T/out" '"long_unknown_clips": 0' "short _unknown_ clips are not long"

# --negatives-max: half evenly spread, half mined (the windows a first round
# takes most for a word, then training again); or all evenly spread
card_pick() {   # "picked hard_rows" of the card's other_talk
    node -e '
  const b = require("fs").readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
  const o = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.data).other_talk;
  console.log(o.picked + "|" + (o.hard_rows === undefined ? "-" : o.hard_rows))' "$1"
}
expect 0 "train --negatives-max 10" -- train "$T/data" -o "$T/cap.safetensors" --negatives "$T/talkA" --negatives-max 10
has "$T/out" "^other talk: 10 windows of 1 file, 0.32 s apart (of $want, --negatives-max: 5 evenly spread and the 5 a first round scored most like a word, [01]\.[0-9]* or more)" \
    "the cap keeps 10 of $want: 5 spread, 5 mined"
[ "$(card_talk "$T/cap.safetensors")" = "_unknown_ 1 $want 10 0.32" ] && ok "the card says 10 of $want" ||
    bad "card: $(card_talk "$T/cap.safetensors")"
[ "$(card_pick "$T/cap.safetensors")" = "half evenly spread, half the hardest for a first round|5" ] && ok "and how they were picked" ||
    bad "card: $(card_pick "$T/cap.safetensors")"
expect 0 "mined again" -- train "$T/data" -o "$T/cap2.safetensors" --negatives "$T/talkA" --negatives-max 10
cmp -s "$T/cap.safetensors" "$T/cap2.safetensors" && ok "mining: same seed, same bytes" || bad "a mined retrain with the same seed differs"
expect 0 "train --negatives-max 10 --negatives-pick even" -- train "$T/data" -o "$T/even.safetensors" --negatives "$T/talkA" \
    --negatives-max 10 --negatives-pick even
has "$T/out" "^other talk: 10 windows of 1 file, 0.32 s apart (evenly spread over $want; --negatives-max)" "--negatives-pick even: all 10 spread"
[ "$(card_pick "$T/even.safetensors")" = "evenly spread|-" ] && ok "the card says so" || bad "card: $(card_pick "$T/even.safetensors")"
cmp -s "$T/cap.safetensors" "$T/even.safetensors" && bad "mined and spread picks gave the same model" || ok "mined and spread picks differ"

# wake-word mode: the talk is the other class; no _unknown_ needed
rm -rf "$T/wdata" && mkdir -p "$T/wdata" && cp -r "$T/data/yes" "$T/data/stop" "$T/wdata/"
expect 0 "train --wake-word yes --negatives" -- train "$T/wdata" -o "$T/wake.safetensors" --wake-word yes --negatives "$T/talkA"
has "$T/out" "taught as other" "a wake-word model learns the talk as its other class"
[ "$(card_talk "$T/wake.safetensors" | cut -d' ' -f1)" = "_other_" ] && ok "card: label _other_" || bad "card: $(card_talk "$T/wake.safetensors")"

mkdir -p "$T/badtalk" && cp "$T/talkA/a.wav" "$T/badtalk/" && echo "RIFF, but not audio" > "$T/badtalk/bad.wav"
# eval --negatives: events an hour on talk at every threshold, from one
# pass of the detector; each count must be what transcribe reports at
# that threshold over the same folder
expect 0 "eval --negatives talkB" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB"
has "$T/out" "^threshold .* talk /h$" "the trade-off gains a column of events an hour on the talk"
has "$T/out" "^other talk (--negatives): 1 file, 0\.0[0-9] h; every event on it is a false accept$" "says how much talk"
has "$T/out" "^at the model's own thresholds (transcribe's defaults): $nb events, " "its own count is transcribe's ($nb)"
has "$T/out" "^for at most 1 false accept an hour: too little talk to tell (0\.0[0-9] h; 1 h needed)$" \
    "too little talk for 1 an hour, and says so"
has "$T/out" "^silent on this talk from threshold 0\.[0-9]*, missing [0-9.]*% of the words$" "names where it goes silent"
has "$T/out" "^for no event on other talk as long as this (chosen on half of this talk and of the word clips" \
    "thresholds for other talk, chosen on half of it"
has "$T/out" "^  one threshold  *held out: [0-9]* events\{0,1\} (0.00 an hour), missing [0-9.]*%; moved [-+][0-9.]* logits" \
    "one threshold, held out"
has "$T/out" "^  a threshold per word held out: [0-9]* events\{0,1\} (0.00 an hour), missing [0-9.]*%; moved [-+][0-9.]* logits" \
    "a threshold per word, held out"
has "$T/out" "; the better$" "names the better of the two"
expect 0 "eval --negatives --json" -- "$BIN" eval --json "$T/base.safetensors" "$T/data" --negatives "$T/talkB"
cp "$T/out" "$T/eval.json"
for th in 0.3 0.5 0.7 0.9; do
    want_ev=$(events "$T/base.safetensors" "$T/talkB" --threshold $th)
    got_ev=$(node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
      console.log(j.negatives.rows.find(r => Math.abs(r.threshold - Number(process.argv[2])) < 1e-9).events)' "$T/eval.json" $th)
    [ "$got_ev" = "$want_ev" ] && ok "at $th: $got_ev events, as transcribe --threshold $th" ||
        bad "at $th: eval says $got_ev events, transcribe gives $want_ev"
done
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); const n = j.negatives;
  const ok = n.files === 1 && n.seconds > 20 && n.own_events === Number(process.argv[2]) && n.suggested.length === 2 &&
    n.suggested[0].enough_talk === false && n.silent_from.threshold > 0 && j.sweep.rows.length === n.rows.length &&
    n.rows.every(r => Math.abs(r.per_hour - r.events * 3600 / n.seconds) <= 1e-4 * r.per_hour + 1e-6);
  process.exit(ok ? 0 : 1)' "$T/eval.json" "$nb" && ok "--json: files, seconds, own events, rows per hour, suggestions" ||
    bad "--json negatives: $(node -e 'console.log(JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1])).negatives))' "$T/eval.json")"
expect 0 "eval --negatives --plot-talk" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" --plot-talk "$T/fa.svg"
has "$T/err" "wrote $T/fa.svg" "says where the chart went"
grep -q ">words missed<" "$T/fa.svg" && grep -q "false accepts an hour on the talk" "$T/fa.svg" &&
    ok "the chart: words missed against false accepts an hour" || bad "talk chart: $(grep -o '>[^<]*<' "$T/fa.svg" | tr '\n' ' ' | head -c 400)"
expect 2 "--plot-talk without --negatives" -- "$BIN" eval "$T/base.safetensors" "$T/data" --plot-talk "$T/fa2.svg"
has "$T/err" "needs --negatives" "says what it needs"
expect 2 "--plot-talk to a .png name" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" --plot-talk "$T/fa.png"
[ ! -e "$T/fa2.svg" ] && [ ! -e "$T/fa.png" ] && ok "and nothing written" || bad "a refused --plot-talk wrote a file"

# which word fires, at the model's own thresholds: transcribe's count of each
byl=$("$BIN" transcribe -q -m "$T/base.safetensors" "$T/talkB" | cut -f3 | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
got_byl=$(node -e 'const n = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives;
  console.log(Object.keys(n.own_by_label).sort().filter(k => n.own_by_label[k] > 0).map(k => k + "=" + n.own_by_label[k]).join(" ") + " ")' "$T/eval.json")
[ "$got_byl" = "$byl" ] && ok "events by word: $byl(as transcribe's)" || bad "by word: eval '$got_byl', transcribe '$byl'"
has "$T/eval.json" '"own_by_label": {"stop": [0-9]*, "yes": [0-9]*}' "--json names every word, _unknown_ and _silence_ left out"

# thresholds for other talk: each way (per word, one for all) is chosen on
# each half of the talk and counted on the other; transcribe with exactly
# the thresholds eval names must give the events it counted, on the whole
# talk and on the half not chosen on (events by where they start)
sec=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).negatives.seconds)' "$T/eval.json")
thr_args() {   # BUDGET-INDEX METHOD [HALF]: the --threshold arguments eval named
    node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives.budgets[Number(process.argv[2])];
      const c = b[process.argv[3]], h = process.argv[4];
      if (!c || !c.found) process.exit(1);
      const t = h === undefined ? c.thresholds : c.held_out.halves[Number(h)].thresholds;
      console.log(Object.entries(t).map(([k, v]) => "--threshold " + k + "=" + v).join(" "))' "$T/eval.json" "$@"
}
jget() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(eval(process.argv[2]))' "$T/eval.json" "$1"; }
check_choices() {   # BUDGET-INDEX: transcribe agrees with every count eval gives for it
    local m h args tx want
    for m in per_word one_threshold; do
        args=$(thr_args "$1" $m) || { bad "$m: no thresholds: $(jget "JSON.stringify(j.negatives.budgets[$1])")"; continue; }
        # shellcheck disable=SC2086
        tx=$(events "$T/base.safetensors" "$T/talkB" $args)
        want=$(jget "j.negatives.budgets[$1].$m.talk.events")
        [ "$tx" = "$want" ] && ok "$m ($args): $tx events on the whole talk, as transcribe gives" ||
            bad "$m: eval says $want events on the talk, transcribe $tx"
        for h in 0 1; do
            args=$(thr_args "$1" $m $h)
            # shellcheck disable=SC2086
            tx=$(set -o pipefail; "$BIN" transcribe -q -m "$T/base.safetensors" $args "$T/talkB" |
                awk -v mid="$(node -e "console.log($sec / 2)")" -v h=$h '(h == 0 && $1 >= mid) || (h == 1 && $1 < mid)' | { grep -c . || true; }) || tx=failed
            want=$(jget "j.negatives.budgets[$1].$m.held_out.halves[$h].events_on_the_other")
            [ "$tx" = "$want" ] && ok "$m chosen on half $h ($args): $tx events on the other half, as transcribe gives" ||
                bad "$m chosen on half $h: eval says $want on the other half, transcribe $tx ($args)"
        done
    done
}
check_choices 2
node -e 'const n = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives, b = n.budgets;
  const fine = c => c.found && c.held_out.events === 0 && c.held_out.per_hour === 0 && c.held_out.missed >= 0 &&
    c.held_out.missed <= 1 && c.held_out.events === c.held_out.halves[0].events_on_the_other + c.held_out.halves[1].events_on_the_other &&
    c.talk.missed >= 0 && c.talk.missed <= 1;
  const better = b[2].per_word.held_out.missed < b[2].one_threshold.held_out.missed ? "per_word" : "one_threshold";
  const pw = [b[2].per_word.thresholds, ...b[2].per_word.held_out.halves.map(h => h.thresholds)];
  const one = [b[2].one_threshold.thresholds, ...b[2].one_threshold.held_out.halves.map(h => h.thresholds)];
  process.exit(b.length === 3 && b[0].max_per_hour === 1 && b[0].enough_talk === false && b[0].per_word === null &&
    b[0].better === null && b[2].max_per_hour === 0 && fine(b[2].per_word) && fine(b[2].one_threshold) &&
    b[2].better === better && pw.every(t => Object.values(t).every(v => v >= 0.5)) &&
    one.every(t => new Set(Object.values(t)).size === 1) ? 0 : 1)' "$T/eval.json" &&
    ok "--json budgets: 1 and 0.1 an hour not tried on 40 s of talk; for none, both ways keep the halves silent, the better named, no word below its own 0.5, one threshold the same for all" ||
    bad "budgets: $(jget 'JSON.stringify(j.negatives.budgets)')"

# a budget this talk can tell with events left: 300 an hour is 3 on 40 s,
# 1 on each half; the counts by half must still be transcribe's
expect 0 "eval --negatives --set-thresholds 300 --json" -- "$BIN" eval --json "$T/base.safetensors" "$T/data" \
    --negatives "$T/talkB" --set-thresholds 300 -o "$T/loose.safetensors"
cp "$T/out" "$T/eval.json"
check_choices 3
node -e 'const b = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives.budgets[3];
  const sum = c => c.held_out.events, cap = Math.floor(300 * Number(process.argv[2]) / 3600 + 1e-9);
  process.exit(b.max_per_hour === 300 && b.enough_talk && [b.per_word, b.one_threshold].every(c => !c.found || sum(c) <= cap) &&
    (b.per_word.found || b.one_threshold.found) ? 0 : 1)' "$T/eval.json" "$sec" &&
    ok "300 an hour: held-out events within $(node -e "console.log(Math.floor(300 * $sec / 3600))") for every choice found" ||
    bad "300 an hour: $(jget 'JSON.stringify(j.negatives.budgets[3])')"

# --set-thresholds: the per-word thresholds into a copy of the model's card,
# which transcribe then uses by default; the weights are the same bytes
expect 0 "eval --set-thresholds 0 -o" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" \
    --set-thresholds 0 -o "$T/silent.safetensors"
better=$(jget 'j.negatives.budgets[2].better')
how=$([ "$better" = per_word ] && echo "a threshold per word" || echo "one threshold for every word")
has "$T/err" "wrote $T/silent.safetensors: its card's thresholds are $how, chosen for no event on other talk" "says what it wrote ($how)"
want=$(jget "j.negatives.budgets[2].$better.talk.events")
[ "$(events "$T/silent.safetensors" "$T/talkB")" = "$want" ] && ok "transcribe with the new card gives eval's $want events on the talk, no --threshold given" ||
    bad "the new card's model fires $(events "$T/silent.safetensors" "$T/talkB") times on the talk, eval said $want"
node -e '
  const fs = require("fs");
  const rd = p => { const b = fs.readFileSync(p), n = Number(b.readBigUInt64LE(0));
    return {meta: JSON.parse(b.subarray(8, 8 + n)).__metadata__, data: b.subarray(8 + n)}; };
  const a = rd(process.argv[1]), b = rd(process.argv[2]), thr = JSON.parse(b.meta.thresholds), src = JSON.parse(b.meta.thresholds_source);
  const bu = JSON.parse(fs.readFileSync(process.argv[3])).negatives.budgets[2], c = bu[bu.better], want = c.thresholds;
  const same = Object.keys(want).every(k => Math.abs(thr[k] - want[k]) < 1e-9);
  process.exit(Buffer.compare(a.data, b.data) === 0 && same && src.max_false_accepts_per_hour === 0 &&
    src.talk_events === c.talk.events && src.held_out_events === 0 && src.shift_logits === c.shift_logits &&
    src.method === (bu.better === "per_word" ? "per word" : "one threshold") &&
    src.talk_files === 1 && a.meta.labels === b.meta.labels && a.meta.encoder_sha256 === b.meta.encoder_sha256 ? 0 : 1)' \
    "$T/base.safetensors" "$T/silent.safetensors" "$T/eval.json" &&
    ok "the card: the thresholds eval named, where they came from; the weights and the rest unchanged" ||
    bad "the written card: $(node -e 'const b=require("fs").readFileSync(process.argv[1]);const n=Number(b.readBigUInt64LE(0));const m=JSON.parse(b.subarray(8,8+n)).__metadata__;console.log(m.thresholds, m.thresholds_source)' "$T/silent.safetensors")"
mkdir -p "$T/spk/yes" && cp "$T/data/yes/en-us_120.wav" "$T/data/yes/en_150.wav" "$T/spk/yes/"
expect 0 "adapt the model with chosen thresholds" -- "$BIN" adapt "$T/silent.safetensors" --speaker-data "$T/spk" \
    -o "$T/silent-adapted.safetensors" --steps 20
has "$T/err" "note: the card's thresholds were chosen for the model before adaptation" "adapt says they should be chosen again"
expect 0 "adapt a model without chosen thresholds" -- "$BIN" adapt "$T/base.safetensors" --speaker-data "$T/spk" \
    -o "$T/base-adapted.safetensors" --steps 20
grep -q "chosen for the model before adaptation" "$T/err" && bad "a note for a model without chosen thresholds" || ok "no note without them"
expect 1 "--set-thresholds 1 on 40 s of talk" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" \
    --set-thresholds 1 -o "$T/one.safetensors"
has "$T/err" "cannot tell 1 false accept an hour (1 h needed)" "says the talk is too short for it"
[ ! -e "$T/one.safetensors" ] && ok "and writes nothing" || bad "a refused --set-thresholds wrote $T/one.safetensors"
expect 2 "--set-thresholds without -o" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" --set-thresholds 0
expect 2 "-o without --set-thresholds" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" -o "$T/x.safetensors"
expect 2 "--set-thresholds without --negatives" -- "$BIN" eval "$T/base.safetensors" "$T/data" --set-thresholds 0 -o "$T/x.safetensors"
expect 2 "--set-thresholds -1" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" --set-thresholds -1 -o "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] && ok "no usage error wrote a model" || bad "a usage error wrote $T/x.safetensors"

# two files, one per thread: the counts add up whatever order they finish in
mkdir -p "$T/talkAB/sub" && cp "$T/talkA/a.wav" "$T/talkAB/" && cp "$T/talkB/b.wav" "$T/talkAB/sub/"
expect 0 "eval --negatives over two files" -- "$BIN" eval --json "$T/base.safetensors" "$T/data" --negatives "$T/talkAB"
na=$(events "$T/base.safetensors" "$T/talkA")
node -e 'const n = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives;
  process.exit(n.files === 2 && n.own_events === Number(process.argv[2]) ? 0 : 1)' "$T/out" "$((na + nb))" &&
    ok "two files (one in a sub-folder): $((na + nb)) events, transcribe's $na + $nb" ||
    bad "two files: $(node -e 'const n = JSON.parse(require("fs").readFileSync(process.argv[1])).negatives; console.log(n.files, n.own_events)' "$T/out"), wanted 2 $((na + nb))"
expect 1 "eval --negatives of a missing folder" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/nothere"
has "$T/err" "nothere" "names the folder"
mkdir -p "$T/emptytalk"
expect 1 "eval --negatives of an empty folder" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/emptytalk"
has "$T/err" "emptytalk" "names the empty folder"
expect 1 "eval --negatives with a file that is not audio" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/badtalk"
has "$T/err" "bad.wav" "names the file"
expect 2 "eval --negatives with --self-adapt" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkB" --self-adapt
has "$T/err" "cannot go with --self-adapt" "says why"

# refusals: nothing is written, an existing model is left alone
echo keep > "$T/keep.safetensors"
expect 1 "no _unknown_ label to teach" -- train "$T/wdata" -o "$T/keep.safetensors" --negatives "$T/talkA"
has "$T/err" "has no _unknown_/ folder" "says the dataset has no _unknown_/ and what to do"
expect 1 "--negatives with --finetune" -- train "$T/data" -o "$T/keep.safetensors" --negatives "$T/talkA" --finetune 1
has "$T/err" "frozen encoder only" "names why"
expect 1 "--negatives of a missing folder" -- train "$T/data" -o "$T/keep.safetensors" --negatives "$T/nothere"
has "$T/err" "nothere" "names the folder"
expect 1 "--negatives with a file that is not audio" -- train "$T/data" -o "$T/keep.safetensors" --negatives "$T/badtalk"
has "$T/err" "bad.wav" "names the file"
[ "$(cat "$T/keep.safetensors")" = keep ] && ok "the existing file is untouched" || bad "a refused run overwrote the model file"
ls "$T"/keep.safetensors.* >/dev/null 2>&1 && bad "a temporary file was left behind" || ok "no temporary file left"
expect 2 "--negatives-max -1" -- "$BIN" train "$T/data" -o "$T/x.safetensors" --negatives-max -1
expect 2 "--negatives-pick other" -- "$BIN" train "$T/data" -o "$T/x.safetensors" --negatives-pick some
expect 2 "--negatives with --learning-curve" -- "$BIN" train --learning-curve "$T/data" --negatives "$T/talkA"

# a file of the talk that cannot be read is named and left out; the rest is
# counted and the exit status says something failed (as transcribe)
mkdir -p "$T/talkbad"
cp "$T/talkB"/* "$T/talkbad/"
: > "$T/talkbad/empty.wav"
expect 1 "eval --negatives with an unreadable talk file" -- "$BIN" eval "$T/base.safetensors" "$T/data" --negatives "$T/talkbad"
has "$T/err" "empty.wav: empty file .*left out of the talk" "the bad file is named"
has "$T/out" "could not be read and is left out" "the results say a file is missing"
has "$T/out" "^other talk (--negatives): $(ls "$T/talkB" | wc -l) file" "the readable files are counted"

echo "$pass passed, $fail failed (negatives)"
[ "$fail" = 0 ]
