#!/bin/bash
# End-to-end: earshot enroll / identify / verify on FSDD speakers, and the
# refusal of corrupt, truncated, newer and other-encoder profile files.
# Skips (77) without the models or ../shared/data/fsdd.
set -u
BIN=${EARSHOT_BIN:?run through meson test}
F=${EARSHOT_FSDD:-}
if ! "$BIN" models >/dev/null 2>&1; then echo "SKIP: pretrained models not found (run scripts/fetch-models.sh)"; exit 77; fi
[ -n "$F" ] && [ -f "$F/0_george_0.wav" ] || { echo "SKIP: FSDD not found at ${F:-../shared/data/fsdd}"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname -- "$0")/lib.sh"
P=$T/p.safetensors

# enroll three speakers from 5 takes each (digits 0-4, take 0)
for s in george jackson theo; do
    expect 0 "enroll $s" -- "$BIN" enroll -q -n "$s" -p "$P" "$F"/{0,1,2,3,4}_${s}_0.wav
done
has "$T/out" "holds 3 speakers" "the profile file holds three speakers"
expect 0 "enroll more takes of one speaker" -- "$BIN" enroll -q -n theo -p "$P" "$F/5_theo_0.wav"
has "$T/out" "enrolled theo: 6 takes" "takes are added"
expect 0 "enroll --replace" -- "$BIN" enroll -q -n theo -p "$P" --replace "$F"/{0,1,2,3,4}_theo_0.wav
has "$T/out" "enrolled theo: 5 takes" "--replace drops the earlier takes"
expect 0 "info on a profile" -- "$BIN" info "$P"
has "$T/out" "an earshot speaker profile" "info names a profile"
has "$T/out" "^  speakers: *george (5 takes), jackson (5 takes), theo (5 takes)$" "... lists who is enrolled, with their takes"
has "$T/out" "^  decides at: *0\.[0-9][0-9] (automatic, for these takes)$" "... and the threshold"
expect 0 "info --json on a profile" -- "$BIN" info -j "$P"
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.exit(j.kind === "speaker profile" && j.loads && j.speakers.map(s => s.name + s.takes).join() === "george5,jackson5,theo5" &&
    j.threshold_automatic === true && j.threshold > 0 && j.threshold < 1 ? 0 : 1)' "$T/out" &&
    ok "--json: the speakers, takes and threshold" || bad "info -j profile: $(head -c 400 "$T/out")"
commit=$("$BIN" --version | sed -n 's/^earshot [0-9.]* (commit \(.*\))$/\1/p')
node -e 'const b = require("fs").readFileSync(process.argv[1]); const n = Number(b.readBigUInt64LE(0));
  const m = JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__;
  process.exit(process.argv[2] && m["earshot.commit"] === process.argv[2] ? 0 : 1)' "$P" "$commit" &&
    ok "the profile records the build's commit ($commit)" || bad "profile: no earshot.commit '$commit'"

# one speaker and no background: scored (a distance needs no reference),
# and a clip far from the voice, a sine tone, is rejected
expect 0 "enroll a lone speaker" -- "$BIN" enroll -q -n george -p "$T/lone.safetensors" "$F"/{0,1,2,3,4}_george_0.wav
"$BIN" verify -q "$T/lone.safetensors" -n george "$F/7_george_3.wav" >"$T/out" 2>"$T/err"; rc=$?
[ $rc = 0 ] || [ $rc = 3 ] && ok "verify against a lone speaker without a background: exit $rc" || bad "lone speaker: exit $rc: $(cat "$T/err")"
has "$T/out" "george	0\.[0-9]*	threshold" "lone speaker: a score from 0 to 1 and the threshold"
sox -n -r 16000 -b 16 "$T/tone.wav" synth 0.6 sine 440 vol 0.5 2>/dev/null
expect 3 "a sine tone is not the lone speaker" -- "$BIN" verify -q "$T/lone.safetensors" -n george "$T/tone.wav"

# a recording over a minute is pooled half a minute at a time (its
# activations took 2 MB a second of audio): a 69 s file of theo's other
# takes is still theo
sox $(for t in 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26; do for d in 0 1 2 3 4 5 6 7 8 9; do
    echo "$F/${d}_theo_$t.wav"; done; done) "$T/theo-long.wav" 2>/dev/null
long_s=$(soxi -D "$T/theo-long.wav")
awk -v d="$long_s" 'BEGIN {exit !(d > 60)}' || bad "the long file is only $long_s s"
expect 0 "identify a ${long_s} s recording" -- "$BIN" identify -q --threshold 0 "$P" "$T/theo-long.wav"
has "$T/out" "theo-long.wav	theo	" "a ${long_s} s recording of theo is theo"
# a silent half minute in a long recording is left out, not an error
sox -n -r "$(soxi -r "$T/theo-long.wav")" -b 16 -c 1 "$T/quiet.wav" trim 0 40 2>/dev/null
sox "$T/theo-long.wav" "$T/quiet.wav" "$T/theo-quiet.wav" 2>/dev/null
expect 0 "identify a long recording that ends in 40 s of silence" -- "$BIN" identify -q --threshold 0 "$P" "$T/theo-quiet.wav"
has "$T/out" "theo-quiet.wav	theo	" "... is still theo"
# a folder stands for the audio files under it (recursive; other files ignored)
mkdir -p "$T/takes/sub"
cp "$F/0_theo_30.wav" "$F/1_theo_30.wav" "$T/takes/" && cp "$F/2_theo_30.wav" "$T/takes/sub/" && echo x >"$T/takes/notes.txt"
expect 0 "enroll from a folder of takes" -- "$BIN" enroll -q -n theo2 -p "$T/fold.safetensors" "$T/takes"
has "$T/out" "enrolled theo2: 3 takes (3 new)" "... its 3 audio files, the one in a sub-folder too"
expect 0 "identify a folder" -- "$BIN" identify -q --threshold 0 "$P" "$T/takes"
[ "$(wc -l <"$T/out")" = 3 ] && has "$T/out" "sub/2_theo_30.wav	theo	" "... a line per audio file under it" ||
    bad "identify of a folder: $(cat "$T/out")"
mkdir -p "$T/noaudio"
expect 1 "identify a folder with no audio" -- "$BIN" identify -q "$P" "$T/noaudio"
has "$T/err" "noaudio: no audio files" "... says so"
# a tab or newline in a file name is escaped, so the line keeps its columns
odd="$T/theo	long
.wav"
cp "$T/theo-long.wav" "$odd"
expect 0 "identify a file with a tab and a newline in its name" -- "$BIN" identify -q --threshold 0 "$P" "$odd"
[ "$(wc -l < "$T/out")" = 1 ] && has "$T/out" '/theo\\tlong\\n\.wav	theo	' "... one line, the name escaped" ||
    bad "... $(wc -l < "$T/out") lines: $(cat "$T/out")"
rm -f "$odd"

# identify 30 other clips (digits 5-9, takes 1-2), and a speaker never enrolled
files=()
for s in george jackson theo; do for d in 5 6 7 8 9; do for t in 1 2; do files+=("$F/${d}_${s}_$t.wav"); done; done; done
# (the closest speaker: --threshold 0 names one for every clip; the default
# threshold, an equal-error point measured on FSDD takes drawn at random,
# may call a clip unknown but must not change a name)
expect 0 "identify 30 clips" -- "$BIN" identify -q --threshold 0 "$P" "${files[@]}"
right=$(awk -F'\t' '{n0 = split($1, p, "/"); split(p[n0], a, "_"); if (a[2] == $2) n++} END {print n + 0}' "$T/out")
lines=$(wc -l < "$T/out")
[ "$lines" = 30 ] && ok "one line per file" || bad "identify printed $lines lines"
[ "$right" -ge 24 ] && ok "identification: $right of 30 right (>= 24)" || bad "identification: only $right of 30 right: $(head -5 "$T/out")"
cut -f1,2 "$T/out" > "$T/closest"
expect 0 "identify with the default threshold" -- "$BIN" identify -q "$P" "${files[@]}"
paste "$T/closest" <(cut -f2 "$T/out") | awk -F'\t' '$3 != $2 && $3 != "unknown" {n++} END {exit n > 0}' &&
    ok "the default threshold only turns names into unknown" || bad "names changed with the threshold: $(cat "$T/out")"
expect 0 "identify --all" -- "$BIN" identify -q --all "$P" "$F/6_george_3.wav"
has "$T/out" "george=" "--all prints every speaker's score"
expect 0 "identify with a threshold above any score" -- "$BIN" identify -q --threshold 1 "$P" "$F/6_george_3.wav"
has "$T/out" "unknown" "below the threshold: unknown"

# transcribe --speakers hears 8 kHz audio as identify does (SINC_BEST):
# with transcribe's own default, SINC_FASTEST, the 3.2-4 kHz band the
# representation reads was weakened and 2_theo_5 came out "unknown 0.366"
# where identify said "theo 0.645". On a take under 0.32 s the event's
# audio (+-0.2 s) is the whole file, so the name and the score must be
# identify's to the printed digit. Any event will do: hey_rhasspy at a
# threshold of 0.0001 makes one at the start of every file.
for f in 2_theo_5 6_george_19; do
    expect 0 "identify $f (8 kHz)" -- "$BIN" identify -q "$P" "$F/$f.wav"
    id_name=$(cut -f2 "$T/out"); id_score=$(cut -f3 "$T/out")
    [ "$id_name" = "$(echo "$f" | cut -d_ -f2)" ] && ok "identify names $f's speaker ($id_name $id_score)" ||
        bad "identify of $f: $(cat "$T/out")"
    tx=(transcribe -q -m hey_rhasspy --threshold 0.0001 --min-duration 0 --speakers "$P")
    expect 0 "transcribe --speakers $f" -- "$BIN" "${tx[@]}" "$F/$f.wav"
    cp "$T/out" "$T/tx_best"
    awk -F'\t' -v d="$(soxi -D "$F/$f.wav")" 'END {exit !(NR == 1 && $2 + 0.2 >= d)}' "$T/tx_best" &&
        ok "$f: one event whose audio +-0.2 s is the whole file" || bad "$f: events $(cat "$T/tx_best")"
    awk -F'\t' -v n="$id_name" -v s="$id_score" '{d = $6 - s} END {exit !($5 == n && d <= 0.00051 && -d <= 0.00051)}' "$T/tx_best" &&
        ok "transcribe --speakers names $f as identify does: $(cut -f5,6 "$T/tx_best" | tr '\t' ' ')" ||
        bad "transcribe --speakers of $f: '$(cut -f5,6 "$T/tx_best")', identify: '$id_name $id_score'"
    # --resample still chooses: best given is the default, fast is not
    expect 0 "transcribe --speakers --resample best $f" -- "$BIN" "${tx[@]}" --resample best "$F/$f.wav"
    cmp -s "$T/out" "$T/tx_best" && ok "--resample best: the same line" || bad "--resample best: $(cat "$T/out")"
    expect 0 "transcribe --speakers --resample fast $f" -- "$BIN" "${tx[@]}" --resample fast "$F/$f.wav"
    cmp -s "$T/out" "$T/tx_best" && bad "--resample fast was not used: $(cat "$T/out")" || ok "--resample fast is taken as given"
done

# verify: genuine and impostor trials against theo, paired by digit and
# take: the genuine clip scores higher, and the exit status follows the
# printed score and threshold
above=0 consistent=0
for d in 5 6 7 8 9; do for t in 3 4; do
    "$BIN" verify -q "$P" -n theo "$F/${d}_theo_$t.wav" >"$T/v" 2>&1; rc=$?
    [ $rc = 0 ] || [ $rc = 3 ] || bad "verify exit status $rc: $(cat "$T/v")"
    sg=$(cut -f3 "$T/v")
    awk -v s="$sg" -v th="$(cut -f4 "$T/v" | cut -d' ' -f2)" -v rc=$rc 'BEGIN {exit !((s >= th) == (rc == 0))}' && consistent=$((consistent + 1))
    "$BIN" verify -q "$P" -n theo "$F/${d}_jackson_$t.wav" >"$T/v" 2>&1; rc=$?
    si=$(cut -f3 "$T/v")
    awk -v s="$si" -v th="$(cut -f4 "$T/v" | cut -d' ' -f2)" -v rc=$rc 'BEGIN {exit !((s >= th) == (rc == 0))}' && consistent=$((consistent + 1))
    # a verify that printed no score must not count as a lower score
    if [[ ! $sg =~ ^[0-9.]+$ || ! $si =~ ^[0-9.]+$ ]]; then bad "verify gave no score for digit $d: '$sg' '$si'"; continue; fi
    awk -v a="$sg" -v b="$si" 'BEGIN {exit !(a > b)}' && above=$((above + 1))
done; done
[ $above -ge 8 ] && ok "verify: the genuine clip scores higher in $above of 10 pairs (>= 8)" || bad "verify: genuine higher in only $above of 10 pairs"
[ $consistent = 20 ] && ok "verify: accept exactly when score >= threshold" || bad "verify: exit status and score disagree ($consistent of 20)"
expect 0 "verify prints accept/reject, score and threshold" -- "$BIN" verify -q "$P" -n theo --threshold 0 "$F/7_theo_5.wav"
has "$T/out" "accept	theo	" "verify output"
expect 1 "verify an unknown name" -- "$BIN" verify -q "$P" -n nobody "$F/7_theo_5.wav"
has "$T/err" "not enrolled" "unknown name: says so"
has "$T/err" "$(basename "$P"): speaker 'nobody' is not enrolled (enrolled: .*theo" "... naming the profiles, and who is in them"
expect 1 "verify an unknown name, the clip missing too" -- "$BIN" verify -q "$P" -n nobody "$T/missing.wav"
has "$T/err" "not enrolled" "... the name is the first problem, before any audio is read"

# a background from two other speakers (10 clips each) changes the projection
mkdir -p "$T/bg"
for s in lucas nicolas; do for d in 0 1 2 3 4; do for t in 0 1; do ln -s "$F/${d}_${s}_$t.wav" "$T/bg/"; done; done; done
cp "$P" "$T/withbg.safetensors"
expect 0 "enroll --background alone" -- "$BIN" enroll -q -p "$T/withbg.safetensors" --background "$T/bg" \
    --background-pattern '{label}_{speaker}_{take}'
has "$T/out" '"clips":20,"speakers":2' "the background is described"
expect 0 "identify with a background" -- "$BIN" identify -q --threshold 0 "$T/withbg.safetensors" "${files[@]}"
right=$(awk -F'\t' '{n0 = split($1, p, "/"); split(p[n0], a, "_"); if (a[2] == $2) n++} END {print n + 0}' "$T/out")
[ "$right" -ge 24 ] && ok "with a background: $right of 30 right (>= 24)" || bad "with a background: only $right of 30 right"
expect 1 "a background of one speaker is refused" -- "$BIN" enroll -q -p "$T/withbg.safetensors" --background "$T/bg" \
    --background-pattern '{label}_lucas_{take}'
has "$T/err" "pattern names no {speaker}\|at least two speakers" "one-speaker background: says why"
expect 0 "a background makes a lone speaker verifiable" -- "$BIN" enroll -q -p "$T/lone.safetensors" --background "$T/bg" \
    --background-pattern '{label}_{speaker}_{take}'
above=0
for d in 5 6 7 8 9; do
    sg=$("$BIN" verify -q "$T/lone.safetensors" -n george "$F/${d}_george_4.wav" 2>/dev/null | cut -f3)
    si=$("$BIN" verify -q "$T/lone.safetensors" -n george "$F/${d}_theo_4.wav" 2>/dev/null | cut -f3)
    awk -v a="$sg" -v b="$si" 'BEGIN {exit !(a > b)}' && above=$((above + 1))
done
[ $above -ge 4 ] && ok "lone speaker with a background: the genuine clip scores higher in $above of 5 pairs" ||
    bad "lone speaker with a background: genuine higher in only $above of 5 pairs"

# the synthetic background earshot makes itself (4 voices to keep it fast)
cp "$P" "$T/synth.safetensors"
expect 0 "enroll --background synth:4" -- "$BIN" enroll -q -p "$T/synth.safetensors" --background synth:4
has "$T/out" '"source":"synth","voices":4,"takes":20' "the synthetic background is described"
expect 0 "identify with the synthetic background" -- "$BIN" identify -q --threshold 0 "$T/synth.safetensors" "${files[@]}"
right=$(awk -F'\t' '{n0 = split($1, p, "/"); split(p[n0], a, "_"); if (a[2] == $2) n++} END {print n + 0}' "$T/out")
[ "$right" -ge 24 ] && ok "with the synthetic background: $right of 30 right (>= 24)" || bad "with the synthetic background: only $right of 30 right"
expect 2 "synth:1 is a usage error" -- "$BIN" enroll -q -p "$T/synth.safetensors" --background synth:1
has "$T/err" "2 to 1024 voices" "synth:1: says why"
expect 2 "synth:x is a usage error" -- "$BIN" enroll -q -p "$T/synth.safetensors" --background synth:4x

# --- bad profile files: refused whole, named, never overwritten
cp "$P" "$T/orig.safetensors"
head -c 700 "$P" > "$T/trunc.safetensors"
expect 1 "a truncated profile is refused" -- "$BIN" identify -q "$T/trunc.safetensors" "$F/6_george_3.wav"
has "$T/err" "trunc.safetensors" "truncated profile: named"
sed 's/"earshot.profile_version":"3"/"earshot.profile_version":"7"/' "$P" > "$T/newer.safetensors"
expect 1 "a newer profile is refused" -- "$BIN" identify -q "$T/newer.safetensors" "$F/6_george_3.wav"
has "$T/err" "newer.safetensors: speaker profile version 7 is newer than this earshot reads" "newer profile: says so"
sed 's/"earshot.profile_version":"3"/"earshot.profile_version":"2"/' "$P" > "$T/older.safetensors"
expect 1 "a profile of an older version (another representation) is refused" -- "$BIN" identify -q "$T/older.safetensors" "$F/6_george_3.wav"
has "$T/err" "older.safetensors.*enroll the speakers again" "older profile: named, says what to do"
expect 2 "a threshold outside 0..1 is a usage error" -- "$BIN" verify -q "$P" -n theo --threshold -0.5 "$F/7_theo_5.wav"
sha=$(grep -ao '"encoder_sha256":"[0-9a-f]*"' "$P" | head -1 | cut -d'"' -f4)
other=$(echo "$sha" | tr '0-9a-f' '1-9a-f0')
sed "s/$sha/$other/" "$P" > "$T/other.safetensors"
expect 1 "a profile of another encoder is refused" -- "$BIN" verify -q "$T/other.safetensors" -n theo "$F/6_theo_3.wav"
has "$T/err" "another encoder" "other encoder: says so"
expect 1 "enrolling into another encoder's profile is refused" -- "$BIN" enroll -q -n x -p "$T/other.safetensors" "$F/6_theo_3.wav"
# the same for the front end: a profile whose log-mel network is another one
msha=$(grep -ao '"melspectrogram_sha256":"[0-9a-f]*"' "$P" | head -1 | cut -d'"' -f4)
mother=$(echo "$msha" | tr '0-9a-f' '1-9a-f0')
sed "s/$msha/$mother/" "$P" > "$T/othermel.safetensors"
expect 1 "a profile of another log-mel front end is refused" -- "$BIN" identify -q "$T/othermel.safetensors" "$F/6_theo_3.wav"
has "$T/err" "othermel.safetensors: made with another log-mel front end" "other front end: names the file, says so"
printf 'garbage' > "$T/bad.safetensors"
expect 1 "enrolling into a corrupt profile is refused" -- "$BIN" enroll -q -n x -p "$T/bad.safetensors" "$F/6_theo_3.wav"
[ "$(cat "$T/bad.safetensors")" = garbage ] && ok "the corrupt profile is left as it was" || bad "the corrupt profile was overwritten"
expect 1 "an unreadable audio file fails cleanly" -- "$BIN" enroll -q -n y -p "$P" "$T/bad.safetensors"
cmp -s "$P" "$T/orig.safetensors" && ok "a failed enroll leaves the profile unchanged" || bad "a failed enroll changed the profile"
expect 2 "enroll without --name" -- "$BIN" enroll -q -p "$P" "$F/6_theo_3.wav"

# --- what a profile must not learn, and how it is changed (session 14's
# audit: each of these once gave a wrong answer with exit 0)
cp "$P" "$T/edit.safetensors"; E=$T/edit.safetensors
sox -n -r 8000 -b 16 -c 1 "$T/silence.wav" trim 0 1 2>/dev/null
expect 1 "a silent take is refused (it drew every impostor's score up)" -- "$BIN" enroll -q -n theo -p "$E" "$T/silence.wav"
has "$T/err" "silence.wav: no speech: silent" "silent take: names the file and says why"
cmp -s "$E" "$P" && ok "the refused take left the profile as it was" || bad "a refused silent take changed the profile"
expect 1 "identify of silence is an error, not 'unknown'" -- "$BIN" identify -q "$E" "$T/silence.wav"
has "$T/err" "no speech" "identify of silence: says no speech"
expect 0 "a take enrolled again" -- "$BIN" enroll -n theo -p "$E" "$F/0_theo_0.wav"
has "$T/out" "enrolled theo: 5 takes (0 new, 1 already enrolled)" "the same recording is not enrolled twice"
# One take and no background: the automatic threshold is 0, which accepts
# anyone; enroll and verify say so (verify accepted nicolas as theo quietly)
expect 0 "a profile of one take" -- "$BIN" enroll -n theo -p "$T/one.safetensors" "$F/0_theo_0.wav"
has "$T/out" "enrolled theo: 1 take (1 new)" "one take is 'take'"
has "$T/err" "warning: $T/one.safetensors: the automatic threshold 0.00 (1 take per speaker, no background)" \
    "enroll warns of a threshold that accepts anyone"
expect 0 "verify on that profile" -- "$BIN" verify "$T/one.safetensors" -n theo "$F/4_nicolas_5.wav"
has "$T/err" "accepts anyone: enroll 5 or more takes" "verify warns too"
expect 0 "a profile of 5 takes" -- "$BIN" enroll -n theo -p "$T/five.safetensors" "$F"/[0-4]_theo_0.wav
grep -q warning "$T/err" && bad "5 takes warned: $(cat "$T/err")" || ok "5 takes: no warning ($(grep -o 'threshold [0-9.]*' "$T/out"))"
expect 1 "another speaker's take" -- "$BIN" enroll -q -n george -p "$E" "$F/0_theo_0.wav"
has "$T/err" "0_theo_0.wav: take 1 of 'george' is already enrolled as speaker 'theo'" "another speaker's take: named, refused"
for n in unknown "theo " " " "a=b" "$(printf 'bad\xff')"; do
    expect 2 "the name '$n' is refused before any work" -- "$BIN" enroll -q -n "$n" -p "$E" "$F/0_lucas_0.wav"
done
has "$T/err" "not valid UTF-8" "a name that is not UTF-8: says so"
expect 0 "--threshold alone sets it" -- "$BIN" enroll -p "$E" --threshold 0.6
has "$T/out" "threshold 0.60$" "the threshold is stored"
expect 0 "--threshold auto" -- "$BIN" enroll -p "$E" --threshold auto
has "$T/out" "(automatic)" "--threshold auto: automatic again"
expect 0 "--remove" -- "$BIN" enroll -p "$E" --remove jackson
has "$T/out" "removed jackson; .* holds 2 speakers" "--remove drops the speaker"
expect 0 "identify --all after --remove" -- "$BIN" identify -q --all "$E" "$F/6_george_3.wav"
grep -q "jackson" "$T/out" && bad "jackson still scored after --remove" || ok "the removed speaker is gone"
expect 1 "--remove of a speaker not enrolled" -- "$BIN" enroll -q -p "$E" --remove nobody
# the file keeps its permissions and is written through a symbolic link
chmod 600 "$E"
ln -s "$E" "$T/link.safetensors"
expect 0 "enroll through a symbolic link" -- "$BIN" enroll -q -n lucas -p "$T/link.safetensors" "$F/0_lucas_0.wav"
[ -L "$T/link.safetensors" ] && ok "the link is still a link" || bad "the link was replaced by a file"
[ "$(stat -c %a "$E")" = 600 ] && ok "a 0600 profile stays 0600" || bad "the profile's mode became $(stat -c %a "$E")"
expect 0 "identify through the link's target" -- "$BIN" identify -q --all "$E" "$F/6_george_3.wav"
has "$T/out" "lucas=" "the link's target holds the new speaker"
ls "$T"/*.tmp.* >/dev/null 2>&1 && bad "temporary files left: $(ls "$T"/*.tmp.*)" || ok "no temporary file left"
# two enrolls into one profile at once take turns (before, one speaker was lost)
cp "$P" "$T/both.safetensors"
"$BIN" enroll -q -n ana -p "$T/both.safetensors" "$F"/{5,6,7}_yweweler_1.wav >/dev/null 2>"$T/err1" & b1=$!
"$BIN" enroll -q -n nico -p "$T/both.safetensors" "$F"/{5,6,7}_nicolas_1.wav >/dev/null 2>"$T/err2" & b2=$!
wait $b1; r1=$?; wait $b2; r2=$?
[ $r1 = 0 ] && [ $r2 = 0 ] && ok "two enrolls at once both succeed" || bad "concurrent enrolls: exit $r1 $r2: $(cat "$T/err1" "$T/err2")"
expect 0 "identify --all after two enrolls at once" -- "$BIN" identify -q --all "$T/both.safetensors" "$F/6_george_3.wav"
has "$T/out" "ana=" "the first concurrent speaker is there"
has "$T/out" "nico=" "the second concurrent speaker is there"
# The same, made certain: the shim holds the rename that puts the first
# enroll's profile in place 2 s, so the second reads the profile while
# that write is under way. Without the lock it read the old profile and
# one speaker was lost every time (the two above, started together, lost
# one in 11 of 20 runs).
if [ -n "${EARSHOT_SLOW_FSYNC_LIB:-}" ]; then
    cp "$P" "$T/held.safetensors"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
    EARSHOT_SLOW_RENAME=2 EARSHOT_SLOW_RENAME_TO="$T/held.safetensors" LD_PRELOAD=$EARSHOT_SLOW_FSYNC_LIB \
        "$BIN" enroll -q -n rosa -p "$T/held.safetensors" "$F"/{5,6,7}_yweweler_2.wav >/dev/null 2>"$T/err1" & b1=$!
    for _ in $(seq 1 200); do ls "$T" | grep -q '^held.safetensors.tmp' && break; sleep 0.02; done
    "$BIN" enroll -q -n tom -p "$T/held.safetensors" "$F"/{5,6,7}_nicolas_2.wav >/dev/null 2>"$T/err2"; r2=$?
    wait $b1; r1=$?
    [ $r1 = 0 ] && [ $r2 = 0 ] && ok "an enroll while another's write is under way" || bad "enroll during a write: exit $r1 $r2: $(cat "$T/err1" "$T/err2")"
    # the second enroll embeds its takes first, without the lock: had that
    # taken longer than the held rename, the first would have finished and
    # nothing would be tested. It must have found the folder locked.
    has "$T/err2" "waiting for another earshot writing in its folder" "... the second came while the first held its folder"
    expect 0 "identify --all after it" -- "$BIN" identify -q --all "$T/held.safetensors" "$F/6_george_3.wav"
    has "$T/out" "rosa=" "... the speaker of the write under way is there"
    has "$T/out" "tom=" "... and the one enrolled meanwhile"
else
    skip "an enroll while another's write is under way" "EARSHOT_SLOW_FSYNC_LIB not set (run through meson test)"
fi
# the lock is on the folder the file really is in: an enroll through a
# symbolic link from another folder waits for one holding the file's own
# folder (before, it locked the link's folder, went ahead, and one of two
# speakers enrolled at once that way was lost)
mkdir -p "$T/far"
ln -s "$T/both.safetensors" "$T/far/both.safetensors"
flock "$T" -c "touch '$T/held'; sleep 3" & fl=$!
for _ in $(seq 1 100); do [ -e "$T/held" ] && break; sleep 0.05; done
"$BIN" enroll -q -n zoe -p "$T/far/both.safetensors" "$F"/{5,6,7}_lucas_1.wav >/dev/null 2>"$T/err"; zr=$?
wait $fl
[ $zr = 0 ] && ok "enroll through a link from another folder" || bad "enroll through the link: exit $zr: $(cat "$T/err")"
has "$T/err" "waiting for another earshot writing in its folder" "... waits for the lock on the profile's own folder"
expect 0 "identify after the enroll through the link" -- "$BIN" identify -q --all "$T/both.safetensors" "$F/6_george_3.wav"
has "$T/out" "zoe=" "... the speaker enrolled through the link is there"
has "$T/out" "nico=" "... and the earlier ones"
expect 2 "-p into a folder that does not exist fails before any work" -- "$BIN" enroll -q -n x -p "$T/no/such.safetensors" "$F/0_lucas_0.wav"
has "$T/err" "does not exist" "missing folder: says so"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
