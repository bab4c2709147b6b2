#!/bin/bash
# End-to-end tests of the earshot command: every subcommand on real files,
# bad input (clear message naming the file, non-zero exit, no half-written
# output), stdin raw PCM, JSON output. Exits 77 (skipped) when the
# pretrained models are absent.
set -u
BIN=${EARSHOT_BIN:?run through meson test}
SRC=${EARSHOT_SRC:?run through meson test}
S=$SRC/samples
if ! "$BIN" models >/dev/null 2>&1; then
    echo "SKIP: pretrained models not found (run scripts/fetch-models.sh or set EARSHOT_MODELS)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname -- "$0")/lib.sh"
# The caches go to $T: a test must never touch the user's (the option
# sweep below once ran 'earshot cache --clear' and emptied them).
export EARSHOT_CACHE=$T/emb-cache EARSHOT_SYNTH_CACHE=$T/synth-cache

# --- usage
expect 2 "no command is a usage error" -- "$BIN"
expect 2 "unknown command" -- "$BIN" frobnicate
grep -q "did you mean" "$T/err" && bad "a suggestion for frobnicate: $(cat "$T/err")" || ok "... no suggestion for a word unlike any command"
expect 2 "a mistyped command" -- "$BIN" trian
has "$T/err" "did you mean 'train'?" "... the nearest command is suggested (a swap is one edit)"
expect 0 "help COMMAND" -- "$BIN" help transcribe
has "$T/out" "usage: earshot transcribe" "... prints the command's own help, as COMMAND --help"
# every command the overview lists has its help, and is found when mistyped
# (version was listed but was not a command to 'help' or to the typo rule)
cmds=$("$BIN" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
[ "$(echo "$cmds" | wc -w)" -ge 13 ] && ok "earshot --help lists the commands" || bad "earshot --help lists: $cmds"
for c in $cmds; do
    expect 0 "help $c" -- "$BIN" help "$c"
    has "$T/out" "usage: earshot $c" "... prints the usage of $c"
done
# every short option a command accepts is in its --help, and every long
# option its --help names is accepted: models took -t and -q unlisted (it
# runs no encoder), version took any argument silently. listen is left out:
# an option it takes could open the default microphone.
drift=
for c in $cmds; do
    [ "$c" = listen ] && continue
    "$BIN" "$c" --help > "$T/help" 2>&1
    for l in {a..z} {A..Z}; do
        [ "$l" = h ] && continue
        timeout 20 "$BIN" "$c" "-$l" < /dev/null > /dev/null 2> "$T/err"
        grep -q "invalid option -- '$l'" "$T/err" && continue
        grep -q -- "-$l[, ]" "$T/help" || drift="$drift $c:-$l"
    done
    for o in $(grep -o -- '--[a-z][a-z-]*' "$T/help" | sort -u); do
        # espeak-ng's own option, named in --lang's text; earshot --version
        [ "$o" = --voices ] || [ "$c$o" = version--version ] && continue
        timeout 20 "$BIN" "$c" "$o" < /dev/null > /dev/null 2> "$T/err"
        grep -q "unrecognized option" "$T/err" && drift="$drift $c:$o"
    done
done
[ -z "$drift" ] && ok "each command's --help and its options agree" || bad "options and --help disagree:$drift"
expect 2 "a mistyped version" -- "$BIN" verison
has "$T/err" "did you mean 'version'?" "... suggests version"
expect 2 "help of no command" -- "$BIN" help frobnicate
has "$T/err" "no command 'frobnicate'" "... says so"
expect 0 "version" -- "$BIN" version
has "$T/out" "earshot 0." "version prints the version"
expect 0 "version -v" -- "$BIN" version -v
has "$T/out" "^  openblas    OpenBLAS [0-9]" "... names OpenBLAS as loaded"
has "$T/out" "^  sndfile     libsndfile-[0-9]" "... and libsndfile"
has "$T/out" "^  encoder     embedding_model.onnx, SHA-256 70d164290c1d" "... and the pinned encoder"
expect 2 "version with an argument" -- "$BIN" version now
has "$T/err" "takes no arguments: 'now'" "... is refused, not ignored"
expect 0 "detect --help" -- "$BIN" detect --help
# --threads is earshot's own count (es_set_threads): OpenBLAS is kept to
# one thread whatever it says, so "(default: OpenBLAS's)" was wrong
has "$T/out" "threads one step may use (default: the CPUs, at most 8" "... --threads gives earshot's own default"
expect 2 "detect without files" -- "$BIN" detect
expect 2 "detect with a trained model points to transcribe" -- "$BIN" detect -m "$T/mine.safetensors" "$T/none.wav"
has "$T/err" "earshot transcribe -m" "... and says how to run it"
expect 2 "bad --threshold" -- "$BIN" detect --threshold 2 "$S/alexa.wav"
has "$T/err" "threshold" "bad --threshold says which option"
expect 0 "models lists the cache" -- "$BIN" models
has "$T/out" "embedding_model" "models names the encoder"
has "$T/out" "silero_vad" "models lists all nine files"
# the pinned sums are the set-up script's (one list is copied in C)
n=0
while read -r name sum; do
    n=$((n + 1))
    grep -q "\"$sum\"" "$SRC/model/models.c" || bad "$name: its SHA-256 in fetch-models.sh is not the one earshot models checks"
done < <(sed -n 's/^  "\([a-z_0-9.]*\.onnx\) *\([0-9a-f]\{64\}\)"$/\1 \2/p' "$SRC/scripts/fetch-models.sh")
[ "$n" = 9 ] && ok "earshot models checks the 9 sums fetch-models.sh pins" || bad "read $n sums from fetch-models.sh"
mdir=$(sed -n 's/^models directory: //p' "$T/out")
mkdir -p "$T/mc"
cp "$mdir"/*.onnx "$T/mc/"
head -c 1000 "$mdir/alexa_v0.1.onnx" > "$T/mc/alexa_v0.1.onnx"
expect 1 "models reports a file that is not the pinned one" -- "$BIN" models --models "$T/mc"
has "$T/out" "alexa .*NOT THE PINNED FILE" "... and names it"
expect 2 "models takes no arguments" -- "$BIN" models extra
has "$T/err" "earshot info FILE" "... and points to info for a model file"
# earshot cache: counts what earshot made in its cache folders, removes the
# temporaries of killed runs (--tidy) and the entries (--clear), and leaves
# every other name, links' targets and a live run's temporaries alone
k64=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
sh -c 'exit 0' & dead=$!; wait $dead   # a pid that is gone
E=$T/cache-emb; Y=$T/cache-syn; O=$T/cache-outside
mkdir -p "$E/01" "$E/ab" "$E/zz" "$O/keep" "$Y/0123456789abcdef/zero" "$Y/mix-fedcba9876543210/train/zero" "$Y/mine" \
    "$Y/0123456789abcdef.tmp$dead/zero"
head -c 4000 /dev/urandom > "$E/01/$k64.npy"
head -c 4000 /dev/urandom > "$E/ab/${k64%??}ab.npy"
head -c 100 /dev/urandom > "$E/ab/$k64.npy.tmp.$dead"
head -c 100 /dev/urandom > "$E/ab/$k64.npy.tmp.$$"
head -c 100 /dev/urandom > "$E/generated-noise-v1-pink.wav"
head -c 100 /dev/urandom > "$E/generated-noise-v1-brown.wav.tmp.$dead"
echo mine > "$E/notes.txt"; echo mine > "$E/ab/notes.txt"; echo mine > "$O/keep/x.npy"
ln -s "$O/keep" "$E/cd"
echo '{}' > "$Y/0123456789abcdef/synthesis.json"; echo take > "$Y/0123456789abcdef/zero/0.wav"
echo take > "$Y/0123456789abcdef.tmp$dead/zero/0.wav"
ln -s "$Y/0123456789abcdef/zero" "$Y/mix-fedcba9876543210/train/zero/synthetic"
ln -s "$O/keep/x.npy" "$Y/mix-fedcba9876543210/train/zero/real.wav"
echo mine > "$Y/mine/a.txt"
EARSHOT_SYNTH_CACHE=$Y
expect 0 "cache lists the caches" -- "$BIN" cache --cache "$E"
has "$T/out" "^embeddings  $E" "... names the embedding cache folder"
has "$T/out" "^            3 entries," "... counts its entries (two embeddings, the generated noise)"
has "$T/out" "and 2 temporary files of runs that were killed (.*): earshot cache --tidy" \
    "... and killed runs' temporaries (an embedding, the generated noise)"
has "$T/out" "1 being written by a run under way" "... and a live run's"
has "$T/out" "4 other names, not earshot.s" "... and the names it did not make (a file, a folder, a link; a file in a shard)"
has "$T/out" "^synth       $Y" "... names the synthesis cache (EARSHOT_SYNTH_CACHE)"
has "$T/out" "^            2 sets," "... counts a set and a mix"
has "$T/out" "^models " "... and the models"
[ -e "$E/ab/$k64.npy.tmp.$dead" ] && [ -e "$E/01/$k64.npy" ] && ok "... and removes nothing" || bad "cache without options removed files"
expect 0 "cache --tidy" -- "$BIN" cache --tidy --cache "$E"
[ ! -e "$E/ab/$k64.npy.tmp.$dead" ] && [ ! -e "$E/generated-noise-v1-brown.wav.tmp.$dead" ] &&
    [ ! -e "$Y/0123456789abcdef.tmp$dead" ] && ok "... removes killed runs' temporaries" \
    || bad "--tidy left a stale temporary"
[ -e "$E/ab/$k64.npy.tmp.$$" ] && [ -e "$E/01/$k64.npy" ] && [ -e "$Y/0123456789abcdef/zero/0.wav" ] \
    && ok "... and nothing else" || bad "--tidy removed an entry or a live run's temporary"
has "$T/out" "removed 2 of 2 temporary files" "... and says so"
expect 0 "cache --clear" -- "$BIN" cache --clear --cache "$E"
has "$T/out" "removed 3 of 3 entries" "... removes the embedding entries"
has "$T/out" "removed 2 of 2 sets" "... and the synthesised sets"
left=$(cd "$T" && find cache-emb cache-syn cache-outside \( -type f -o -type l \) | sort | tr '\n' ' ')
want="cache-emb/ab/$k64.npy.tmp.$$ cache-emb/ab/notes.txt cache-emb/cd cache-emb/notes.txt cache-outside/keep/x.npy cache-syn/mine/a.txt "
[ "$left" = "$want" ] && ok "... and leaves other names, links' targets and a live run's temporary" || bad "after --clear: $left"
[ ! -e "$E/01" ] && [ -d "$E/ab" ] && ok "... an emptied shard folder goes, one with other files stays" || bad "shard folders after --clear"
# A leftover of a run whose pid now belongs to another process (pids are
# reused; in a container the same few repeat at every start) stayed "being
# written" as long as that process ran. Names carry the writer's start
# time beside its pid (field 22 of /proc/PID/stat): a live pid ($$) with
# another start time is a leftover, with its own it is that run's.
if [ -r /proc/$$/stat ]; then
    mine=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)   # fields from 3 on: comm may hold spaces
    R=$T/cache-reused; RY=$T/cache-reused-syn
    mkdir -p "$R/ab" "$RY/0123456789abcdef.tmp$$-1/zero" "$RY/fedcba9876543210.tmp$$-$mine/zero"
    : >"$R/ab/$k64.npy.tmp.$$-1"
    : >"$R/ab/${k64%?}1.npy.tmp.$$-$mine"
    : >"$R/generated-noise-v1-pink.wav.tmp.$$-$((mine + 1))"
    expect 0 "cache --tidy: leftovers named with a live pid and another start time" -- \
        "$BIN" cache --tidy --cache "$R" --synth-cache "$RY"
    [ ! -e "$R/ab/$k64.npy.tmp.$$-1" ] && [ ! -e "$R/generated-noise-v1-pink.wav.tmp.$$-$((mine + 1))" ] &&
        [ ! -e "$RY/0123456789abcdef.tmp$$-1" ] && ok "... are stale and removed" ||
        bad "--tidy kept a leftover of a reused pid: $(find "$R" "$RY" -name '*.tmp*' | tr '\n' ' ')"
    [ -e "$R/ab/${k64%?}1.npy.tmp.$$-$mine" ] && [ -d "$RY/fedcba9876543210.tmp$$-$mine" ] &&
        ok "... and those with the live process's start time are its work, left alone" ||
        bad "--tidy removed a live run's temporary"
    has "$T/out" "removed 2 of 2 temporary files" "... and counts them"
    has "$T/out" "1 being written by a run under way" "... and the live one"
else
    skip "leftovers of a reused pid" "no /proc"
fi
# two sweeps at once (a cron job's --tidy and one typed): what the other
# removed between this one's readdir and its lstat was counted as "other
# names, not earshot's (left alone)" (15 of 20 runs over 50 files)
Q=$T/cache-twice; Z=$T/cache-twice-syn
# The race needs the two sweeps to overlap, which two processes started
# together need not do: a round counts as overlapping when each sweep
# removed some of the 400 synthesis folders (one that started after the
# other had finished removes none), and at least one round must.
synth_removed() { awk '/^synth /{s=1; next} /^[a-z]/{s=0} s && /removed [0-9]+ of/ {print $2}' "$1"; }
good=0 overlap=0
for round in 1 2 3; do
    mkdir -p "$Q/ab" "$Z"
    for k in $(seq 100 499); do : >"$Q/ab/${k64%???}$k.npy.tmp.$dead"; mkdir -p "$Z/0123456789abc$k.tmp$dead"; done
    "$BIN" cache --tidy --cache "$Q" --synth-cache "$Z" >"$T/tidy1" 2>&1 & tp=$!
    "$BIN" cache --tidy --cache "$Q" --synth-cache "$Z" >"$T/tidy2" 2>&1; r2=$?
    wait $tp; r1=$?
    [ "$(synth_removed "$T/tidy1")" -gt 0 ] 2>/dev/null && [ "$(synth_removed "$T/tidy2")" -gt 0 ] 2>/dev/null &&
        overlap=$((overlap + 1))
    [ $r1 = 0 ] && [ $r2 = 0 ] && ! grep -q "other name" "$T/tidy1" "$T/tidy2" && [ -z "$(find "$Q/ab" "$Z" -mindepth 1)" ] || break
    good=$((good + 1))
done
[ $good = 3 ] && ok "two cache --tidy at once remove every stale temporary and count nothing as another's" ||
    bad "two cache --tidy at once (round $round, exit $r1 $r2): $(cat "$T/tidy1" "$T/tidy2" | grep -v '^models\|pretrained')"
[ $overlap -gt 0 ] && ok "... the two sweeps overlapped ($overlap of $round rounds)" ||
    bad "... the two sweeps never overlapped: the race was not tested ($(grep -h removed "$T/tidy1" "$T/tidy2" | tr -s ' '))"
expect 2 "cache takes no arguments" -- "$BIN" cache "$E"
expect 2 "cache --cache naming a file" -- "$BIN" cache --clear --cache "$S/alexa.wav"
has "$T/err" "alexa.wav: not a folder" "... is refused, not shown as an empty cache"
[ -s "$S/alexa.wav" ] && ok "... and the file is untouched" || bad "cache --clear touched alexa.wav"
EARSHOT_SYNTH_CACHE=$T/synth-cache
# earshot info on the pretrained ONNX files (by name), and on what is none
expect 0 "info on pretrained models by name" -- "$BIN" info alexa embedding_model
has "$T/out" "^alexa: a pretrained openWakeWord head" "info names a pretrained head"
has "$T/out" "^  head: *a wake-word head over 16 embeddings (1.28 s), 1 output" "... with its window and outputs"
has "$T/out" "^embedding_model: the pretrained encoder" "... and the encoder"
has "$T/out" "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e: the pinned alexa" "... identified by its SHA-256"
expect 1 "info on a recording" -- "$BIN" info "$S/alexa.wav"
has "$T/err" "alexa.wav: neither an earshot model or speaker profile (safetensors) nor an ONNX model" "... says it is no model"
expect 1 "info on a file that does not exist" -- "$BIN" info -j "$T/none.safetensors"
has "$T/err" "none.safetensors: cannot open" "... names it"
node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(j.loads === false && /cannot open/.test(j.error) ? 0 : 1)' "$T/out" &&
    ok "... and --json has a line for it" || bad "info -j missing file: $(cat "$T/out")"
expect 2 "info without files" -- "$BIN" info
expect 1 "info on a misspelt pretrained name" -- "$BIN" info Alexa
has "$T/err" "unknown model 'Alexa'" "... says which names exist"
expect 1 "a misspelt model name lists the names" -- "$BIN" detect -m Alexa "$S/alexa.wav"
has "$T/err" "unknown model 'Alexa': the pretrained heads are alexa" "... and does not send the user to download"

# --- detect on the bundled samples
expect 0 "detect on samples" -- "$BIN" detect -m hey_jarvis -m alexa -m weather "$S/hey_jarvis.wav" "$S/alexa.wav" "$S/weather.wav" "$S/no_wake_word.wav" "$S/hey_jarvis_stereo_44k.flac"
cp "$T/out" "$T/detect.txt"
has "$T/detect.txt" "hey_jarvis .*score 0.9" "hey_jarvis found in hey_jarvis.wav"
has "$T/detect.txt" "alexa .*score 0.9" "alexa found in alexa.wav"
has "$T/detect.txt" "no_wake_word.wav (3.72 s): no detection" "nothing found in no_wake_word.wav"
expect 0 "detect --json" -- "$BIN" detect --json -m hey_jarvis -m alexa "$S/hey_jarvis.wav" "$S/no_wake_word.wav"
if node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  if (lines.length !== 2) throw new Error("want 2 lines");
  const [a, b] = lines;
  if (a.detections.length !== 1 || a.detections[0].label !== "hey_jarvis" || !(a.detections[0].score > 0.9)) throw new Error("hey_jarvis");
  if (!(a.detections[0].time > 1.0 && a.detections[0].time < a.duration + 0.5)) throw new Error("time " + a.detections[0].time);
  if (b.detections.length !== 0) throw new Error("false detection");
' "$T/out" 2>"$T/err"; then ok "detect --json is valid JSON Lines with the right events"; else bad "detect --json: $(cat "$T/err")"; fi
# a score's time is the end of its window, which runs on into the trailing
# padding: at a low threshold alexa.wav's event ended at 2.36 s (2.54 s with
# --pad 0.5) in a file of 2.32 s. A detection is kept within the file.
for o in "--threshold 0.01" "--threshold 0.05 --pad 0.5"; do
    # shellcheck disable=SC2086
    expect 0 "detect --json $o" -- "$BIN" detect --json -m alexa $o "$S/alexa.wav"
    if node -e '
      const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")), d = o.detections;
      if (d.length !== 1) throw new Error("want one detection");
      const e = d[0], dur = Math.round(o.duration * 100) / 100;
      if (!(e.start >= 0 && e.start <= e.time && e.time <= e.end && e.end <= dur)) throw new Error("times " + JSON.stringify(e) + " in " + o.duration + " s");
      if (e.end !== dur) throw new Error("the event ran past the end, so it ends at the end: " + e.end);
    ' "$T/out" 2>"$T/err"; then ok "detect $o: the event within 0-2.32 s, ending at the file's end"; else bad "detect $o: $(cat "$T/err")"; fi
    # shellcheck disable=SC2086
    expect 0 "detect $o (text)" -- "$BIN" detect -m alexa $o "$S/alexa.wav"
    has "$T/out" "alexa .*(above threshold 1\.[0-9]*-2\.32 s)$" "... and in the text output"
done
expect 0 "detect --scores" -- "$BIN" detect --scores -m timer -m alexa "$S/alexa.wav"
has "$T/out" "1_minute_timer" "scores header names the timer labels"
rows=$(grep -c "alexa.wav" "$T/out")
# (1 s pad + 2.32 s + 1 s pad) / 80 ms = 54 steps, minus the 15 before alexa's
# 16-embedding window is full: a row for every step in which any head scored
[ "$rows" = 39 ] && ok "scores: one row per 80 ms from the first score ($rows)" || bad "scores: $rows rows, not 39"
# timer's 34-embedding window fills 18 steps later: nan until then, not 0
first=$(sed -n 2p "$T/out" | cut -f3-9 | tr '\t' ' ')
[ "$first" = "nan nan nan nan nan nan nan" ] && ok "... timer's columns are nan before its first score" ||
    bad "... timer's columns in the first row: $first"
cp "$T/out" "$T/scores_ta"
expect 0 "detect --scores with the heads the other way round" -- "$BIN" detect --scores -m alexa -m timer "$S/alexa.wav"
[ "$(grep -c "alexa.wav" "$T/out")" = 39 ] && ok "... the same 39 rows, whichever head is named last" ||
    bad "... $(grep -c "alexa.wav" "$T/out") rows"
# a tab, newline or backslash in a file name would shift the columns or
# start a false row: the name is written with C escapes
odd="$T/a	b
c\\d.wav"
cp "$S/alexa.wav" "$odd"
expect 0 "detect --scores on a name with a tab and a newline" -- "$BIN" detect --scores -m alexa "$odd"
rows=$(tail -n +2 "$T/out" | wc -l)
fields=$(tail -n +2 "$T/out" | awk -F'\t' '{print NF}' | sort -u | tr '\n' ' ')
if [ "$rows" -ge 15 ] && [ "$fields" = "3 " ]; then ok "... every row has 3 fields ($rows rows)"; else bad "... rows $rows, fields per row: $fields"; fi
has "$T/out" '/a\\tb\\nc\\\\d\.wav	' "... the name is escaped (\\t, \\n, \\\\)"
expect 0 "transcribe two files, one with a tab and a newline in its name" -- "$BIN" transcribe -q -m alexa "$odd" "$S/alexa.wav"
fields=$(awk -F'\t' '{print NF}' "$T/out" | sort -u | tr '\n' ' ')
[ "$(wc -l < "$T/out")" = 2 ] && [ "$fields" = "5 " ] && ok "... one line per event, 5 fields each" ||
    bad "... $(wc -l < "$T/out") lines, fields $fields: $(cat "$T/out")"
has "$T/out" '^[^	]*/a\\tb\\nc\\\\d\.wav	0\.98	' "... the name escaped there too"
rm -f "$odd"
expect 0 "detect on a folder" -- "$BIN" detect -m alexa "$S"
has "$T/out" "samples/alexa.wav (2.32 s):" "... reads the audio files under it"
has "$T/out" "samples/vocab/play/play_0.flac" "... in its sub-folders too"
grep -q "README" "$T/out" "$T/err" && bad "... tried a file that is not audio" || ok "... and no other file"
expect 0 "detect by model path" -- "$BIN" detect -m "$("$BIN" models | awk '/hey_jarvis/ {print $NF}')" "$S/hey_jarvis.wav"
has "$T/out" "hey_jarvis" "a head given by path works"

# --- stdin raw PCM gives the same result as the file
tail -c +45 "$S/hey_jarvis.wav" > "$T/hj.raw"     # 16 kHz s16 mono: drop the 44-byte header
expect 0 "detect from stdin" -- bash -c "\"$BIN\" detect --json -m hey_jarvis --rate 16000 --format s16 - < \"$T/hj.raw\""
has "$T/out" '"label": "hey_jarvis"' "stdin raw PCM detects too"
# a WAV on stdin (ffmpeg -f wav -, sox -t wav -) is read as its header says:
# at 44.1 kHz stereo float, the same events as the same file by name (it
# was read as raw s16 at 16 kHz before: noise, and exit status 0)
sox "$S/hey_jarvis.wav" -r 44100 -c 2 -e floating-point -b 32 "$T/hj44.wav"
"$BIN" detect --json -m hey_jarvis "$T/hj44.wav" 2>/dev/null | sed 's/"file": "[^"]*"//' > "$T/hj44.byname"
expect 0 "detect a WAV stream from stdin" -- bash -c "sox \"$T/hj44.wav\" -t wav - | \"$BIN\" detect --json -m hey_jarvis -"
sed 's/"file": "[^"]*"//' "$T/out" > "$T/hj44.stdin"
grep -q '"label": "hey_jarvis"' "$T/hj44.stdin" && cmp -s "$T/hj44.stdin" "$T/hj44.byname" \
    && ok "... the same events as the file by name" || bad "... differs: $(diff "$T/hj44.stdin" "$T/hj44.byname" | head -5)"
expect 0 "a WAV stream on stdin with other raw options" -- bash -c "cat \"$T/hj44.wav\" | \"$BIN\" detect -m hey_jarvis --rate 16000 -"
has "$T/err" "(stdin) is a WAV stream of 44100 Hz, 2 channels: its header wins over --rate" "... says the header wins"
expect 1 "FLAC on stdin" -- bash -c "sox \"$S/hey_jarvis.wav\" -t flac - | \"$BIN\" detect -m hey_jarvis -"
has "$T/err" "(stdin): holds FLAC data" "... is refused by name, not played as raw samples"

# --- embed
expect 1 "embed of inputs that all fail" -- "$BIN" embed -q "$T/no_such.wav" -o "$T/emb_none"
[ ! -e "$T/emb_none" ] && ok "... leaves no empty output folder behind" || bad "... left $T/emb_none"
# a folder stands for its audio files; two that would write one .npy are refused
mkdir -p "$T/embin/a" "$T/embin/b" && cp "$S/alexa.wav" "$T/embin/a/x.wav" && cp "$S/hey_jarvis.wav" "$T/embin/b/y.wav"
expect 0 "embed a folder" -- "$BIN" embed -q "$T/embin" -o "$T/embout"
[ -s "$T/embout/x.npy" ] && [ -s "$T/embout/y.npy" ] && ok "... one .npy per audio file under it" || bad "... wrote: $(ls "$T/embout" 2>&1)"
cp "$S/alexa.wav" "$T/embin/b/x.wav"
expect 2 "embed a folder where two files would write one .npy" -- "$BIN" embed -q "$T/embin" -o "$T/embout2"
has "$T/err" "embin/a/x.wav' and '.*embin/b/x.wav' would both write .*embout2/x.npy" "... names both and the output"
[ ! -e "$T/embout2" ] && ok "... before making the folder" || bad "... made $T/embout2"
expect 0 "embed" -- "$BIN" embed -q "$S/hey_jarvis.wav" "$S/alexa.wav" -o "$T/emb"
if node -e '
  const fs = require("fs");
  for (const [f, n] of [["hey_jarvis", 0], ["alexa", 0]]) {
    const b = fs.readFileSync(process.argv[1] + "/" + f + ".npy");
    const h = b.subarray(10, 10 + b.readUInt16LE(8)).toString();
    const m = /shape.: \((\d+), 96\)/.exec(h);
    if (!m || (10 + b.readUInt16LE(8)) % 64 || b.length - 10 - b.readUInt16LE(8) !== 4 * 96 * m[1]) throw new Error(f + ": " + h);
  }' "$T/emb" 2>"$T/err"; then ok "embed writes [n, 96] float32 .npy"; else bad "embed npy: $(cat "$T/err")"; fi
expect 0 "embed --mel" -- "$BIN" embed -q --mel "$S/alexa.wav" -o "$T/mel"
n=$(( ($(stat -c %s "$S/alexa.wav") - 44) / 2 ))     # 16-bit mono samples
has <(head -c 128 "$T/mel/alexa.npy") "($(( (n - 512) / 160 + 1 )), 32)" "embed --mel writes [(n-512)/160+1, 32]"
head -c 20044 "$S/alexa.wav" > "$T/short.wav"   # 0.6 s
expect 1 "embed of a too-short clip fails" -- "$BIN" embed -q "$T/short.wav" -o "$T/x"
expect 1 "embed of 0.6 s without padding fails" -- "$BIN" embed -q "$T/short.wav" -o "$T/short"
has "$T/err" "too short" "too-short clip is explained"
[ ! -e "$T/short/short.npy" ] && ok "no output for the failed clip" || bad "an output was written for a failed clip"
expect 0 "embed --pad-to 2" -- "$BIN" embed -q --pad-to 2 "$T/short.wav" -o "$T/short"
has <(head -c 128 "$T/short/short.npy") "(16, 96)" "2 s of audio gives 16 embeddings"
# a recording over 30 s is read a piece at a time, not decoded whole (the
# whole front end reads it twice, for its loudest frame first): the same
# bytes as the same samples decoded whole (stdin is always read whole)
sox "$S/alexa.wav" "$S/no_wake_word.wav" "$S/hey_jarvis.wav" "$S/weather.wav" "$T/long1.wav"
sox "$T/long1.wav" "$T/long1.wav" "$T/long1.wav" "$T/long1.wav" "$T/long.wav"
for m in whole --stream --mel; do
    opt=$([ $m = whole ] || echo $m)
    # shellcheck disable=SC2086
    "$BIN" embed -q $opt "$T/long.wav" -o "$T/long-$m" 2>"$T/err" &&
        sox "$T/long.wav" -t raw -e signed -b 16 - | "$BIN" embed -q $opt --rate 16000 --format s16 - -o "$T/long-$m-stdin" 2>>"$T/err" &&
        cmp -s "$T/long-$m/long.npy" "$T/long-$m-stdin/stdin.npy" &&
        ok "embed $m of $(soxi -D "$T/long.wav") s read in pieces: the bytes of the clip decoded whole" ||
        bad "embed $m of a long file differs from the same samples decoded whole: $(cat "$T/err")"
done
# A mistyped option: the error, the nearest option, where the help is, and
# not the whole help (150 lines for train) scrolling the error away.
expect 2 "a mistyped option is a usage error" -- "$BIN" detect --scroes "$S/alexa.wav"
has "$T/err" "did you mean --scores?" "the nearest option is suggested"
has "$T/err" "run 'earshot detect --help'" "and the way to the help"
[ "$(wc -l < "$T/err")" -le 3 ] && ok "without the whole help" || bad "$(wc -l < "$T/err") lines for a typo"
expect 2 "an option far from any" -- "$BIN" train --frobnicate x
grep -q "did you mean" "$T/err" && bad "a suggestion for a word unlike any option: $(cat "$T/err")" || ok "no suggestion when none is near"
expect 2 "two inputs with one output name" -- "$BIN" embed "$S/alexa.wav" "$T/alexa.wav" -o "$T/dup"
expect 2 "embed -o '' is a usage error" -- "$BIN" embed -q "$S/alexa.wav" -o ""
has "$T/err" "-o: an empty folder name" "... saying the name is empty"

# --- bad input: clear error naming the file, non-zero exit, the batch goes on
: > "$T/empty.wav"
echo "hello, I am not audio" > "$T/text.wav"
head -c 20 "$S/alexa.wav" > "$T/trunc.wav"
mkdir -p "$T/dir.wav"
for f in empty.wav text.wav trunc.wav dir.wav missing.wav; do
    expect 1 "detect $f fails" -- "$BIN" detect -m alexa "$T/$f"
    has "$T/err" "$T/$f" "error for $f names the file"
done
expect 1 "a bad file among good ones" -- "$BIN" detect -m alexa "$T/text.wav" "$S/alexa.wav"
has "$T/out" "alexa.wav (2.32 s)" "the good file is still processed"
expect 1 "embed of a bad file" -- "$BIN" embed -q "$T/text.wav" -o "$T/bademb"
[ -z "$(ls -A "$T/bademb" 2>/dev/null)" ] && ok "no half-written output after a bad file" || bad "files left: $(ls "$T/bademb")"
# A WAV cut short (the header promises more than the file holds) is read as
# far as it goes, with a warning naming the file: libsndfile alone says nothing.
sz=$(stat -c %s "$S/alexa.wav")
head -c $((sz / 2)) "$S/alexa.wav" > "$T/halfcut.wav"
expect 0 "detect reads a WAV cut in half" -- "$BIN" detect -m alexa "$T/halfcut.wav"
has "$T/err" "warning: $T/halfcut.wav: truncated: its header promises 2.32 s of audio, the file holds 1.16 s" \
    "a cut WAV is reported with both lengths"
has "$T/out" "halfcut.wav (1.16 s)" "and what it holds is processed"
expect 0 "embed opens it twice (probe, decode)" -- "$BIN" embed "$T/halfcut.wav" -o "$T/halfemb"
[ "$(grep -c "truncated" "$T/err")" = 1 ] && ok "the warning is said once" || bad "warnings: $(cat "$T/err")"
# File names that are not UTF-8 (a Latin-1 name) or hold quotes and tabs:
# --json stays valid JSON for a strict parser (bad bytes become U+FFFD).
latin1="$T/$(printf 'caf\xe9 "x"\t.wav')"
cp "$S/alexa.wav" "$latin1"
expect 0 "detect --json of a Latin-1 file name" -- "$BIN" detect -m alexa --json "$latin1"
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8","strict")); assert d["file"].endswith("caf\ufffd \"x\"\t.wav"), d["file"]' "$T/out" 2>"$T/perr" &&
        ok "detect --json: valid UTF-8 JSON, the bad byte as U+FFFD" || bad "detect --json: $(cat "$T/perr" "$T/out" | head -c 400)"
    expect 0 "transcribe --format json of the same" -- "$BIN" transcribe -m alexa --format json "$latin1"
    python3 -c 'import json,sys; d=json.loads(open(sys.argv[1],"rb").read().decode("utf-8","strict")); assert d["file"].endswith("caf\ufffd \"x\"\t.wav") and d["events"], d' "$T/out" 2>"$T/perr" &&
        ok "transcribe json: valid UTF-8 JSON" || bad "transcribe json: $(cat "$T/perr" "$T/out" | head -c 400)"
else
    skip "JSON of a Latin-1 file name" "no python3 to parse it strictly"
fi
rm -f "$latin1"
expect 1 "unknown model name" -- "$BIN" detect -m no_such_head "$S/alexa.wav"
has "$T/err" "unknown model 'no_such_head'" "an unknown name is called unknown"
mkdir -p "$T/nomodels"
expect 1 "a models folder without the models" -- "$BIN" detect --models "$T/nomodels" -m alexa "$S/alexa.wav"
has "$T/err" "fetch-models" "missing models: says how to fetch"
expect 1 "an encoder is not a head" -- "$BIN" detect -m embedding_model "$S/alexa.wav"
has "$T/err" "not a wake-word head" "refusing a non-head says why"
expect 1 "models dir without models" -- "$BIN" detect --models "$T" -m alexa "$S/alexa.wav"
has "$T/err" "not found" "empty models dir is explained"
printf 'abc' > "$T/odd.raw"
expect 1 "stdin with a partial frame" -- bash -c "\"$BIN\" detect -m alexa - < \"$T/odd.raw\""
has "$T/err" "stdin" "stdin error names the stream"

# --- outputs that are not files: a device or a named pipe is refused,
# not replaced by a regular file (as root, -o /dev/null replaced the
# machine's /dev/null)
mkfifo "$T/pipe.safetensors"
expect 2 "train -o a named pipe is refused" -- "$BIN" train -q "$S/vocab" -o "$T/pipe.safetensors"
has "$T/err" "$T/pipe.safetensors: is a device, pipe or socket" "... naming it and why"
[ -p "$T/pipe.safetensors" ] && ok "the pipe is still a pipe" || bad "the pipe was replaced: $(ls -l "$T/pipe.safetensors")"
mkdir -p "$T/txpipe" && mkfifo "$T/txpipe/alexa.json"
expect 1 "transcribe -d onto a named pipe fails" -- "$BIN" transcribe -q -m alexa -ojson -d "$T/txpipe" "$S/alexa.wav"
has "$T/err" "$T/txpipe/alexa.json: is a device, pipe or socket" "... naming the output"
[ -p "$T/txpipe/alexa.json" ] && ok "that pipe is still a pipe" || bad "the pipe was replaced: $(ls -l "$T/txpipe")"

# --- a model written over one of the clips it was trained on: -o must
# name a .safetensors file (what transcribe loads), so it never replaces
# a recording
cp -r "$S/vocab" "$T/vocab"
clip=$T/vocab/play/$(ls "$T/vocab/play" | head -1)
expect 2 "train -o one of its own clips is refused" -- "$BIN" train -q "$T/vocab" -o "$clip"
has "$T/err" "$clip: a model is a .safetensors file" "... naming it and why"
cmp -s "$clip" "$S/vocab/play/$(basename "$clip")" && ok "the clip is intact" || bad "the clip was replaced: $(file "$clip")"

# an empty output name is refused before the work, saying so
expect 2 "enroll -p '' is a usage error" -- "$BIN" enroll -q -n x -p "" "$S/alexa.wav"
has "$T/err" "-p: an empty file name" "... saying the name is empty"

# a symbolic link is written through even when its file is not there yet
# (the link was replaced by a regular file); into a missing folder refused
ln -s made.safetensors "$T/link.safetensors"
expect 0 "enroll -p a link to a file not made yet" -- "$BIN" enroll -q -n x -p "$T/link.safetensors" "$S/alexa.wav"
[ -L "$T/link.safetensors" ] && [ -f "$T/made.safetensors" ] && ok "... makes the file the link names, keeping the link" ||
    bad "link: $(ls -l "$T/link.safetensors" "$T/made.safetensors" 2>&1)"
ln -s nowhere/made.safetensors "$T/link2.safetensors"
expect 2 "a link into a missing folder is refused" -- "$BIN" enroll -q -n x -p "$T/link2.safetensors" "$S/alexa.wav"
has "$T/err" "folder $T/nowhere does not exist" "... naming the folder"

# a name the file system takes, but not with ".tmp.<pid>" added: refused
# before the work instead of after it (the model was lost)
long=$(printf 'm%.0s' $(seq 1 240)).safetensors
expect 2 "train -o a name too long for its temporary file" -- "$BIN" train -q "$S/vocab" -o "$T/$long"
has "$T/err" "cannot create its temporary file .*File name too long" "... says so before training"
[ -z "$(ls "$T" | grep mmmm)" ] && ok "... leaving nothing" || bad "left: $(ls "$T" | grep mmmm)"

# --- stdout that cannot be written (a full disk under `> out.txt`): the
# output is lost, so the command fails and says so, instead of exit 0
if [ -w /dev/full ]; then
    expect 1 "transcribe to a full stdout fails" -- bash -c "\"$BIN\" transcribe -q -m alexa \"$S/alexa.wav\" \"$S/weather.wav\" > /dev/full"
    has "$T/err" "standard output: No space left on device" "... naming stdout and why"
    # the summary must not contradict the exit status: before, it said
    # "0 failed" and the run then exited 1 for stdout
    expect 1 "transcribe to a full stdout, with its summary" -- bash -c "\"$BIN\" transcribe -m alexa \"$S/alexa.wav\" \"$S/weather.wav\" > /dev/full"
    has "$T/err" "2 files (.*), 1 event, 2 failed" "... counts both lost transcripts as failed"
    has "$T/err" "alexa.wav: transcript not written to standard output, nor any after it" "... naming the first"
    [ "$(grep -c "standard output: No space left on device" "$T/err")" = 1 ] && ok "... and the reason once" ||
        bad "the reason: $(cat "$T/err")"
    expect 1 "version to a full stdout fails" -- bash -c "\"$BIN\" version > /dev/full"
    has "$T/err" "standard output: No space left on device" "... also when only the end of the run writes it"
else
    skip "a full stdout" "no writable /dev/full"
fi
expect 1 "detect with stdout closed fails" -- bash -c "\"$BIN\" detect -m alexa \"$S/alexa.wav\" >&-"
has "$T/err" "standard output: Bad file descriptor" "... and says so"

echo "$pass passed, $fail failed (cli)"
[ "$fail" = 0 ]
