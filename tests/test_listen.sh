#!/bin/bash
# earshot listen end to end through PortAudio, from a virtual capture device:
# an ALSA `type file` PCM (selected with ALSA_CONFIG_PATH) whose infile is a
# named pipe that tests/pace_fifo fills at a microphone's pace. listen must
# report the same events as earshot transcribe on the same recording.
#
# How the device behaves (alsa-lib 1.2.8, PortAudio 19.6, Debian 12), and so
# why the test is built this way:
# - The file plugin's slave is a `null` PCM, which has no clock: reads from
#   a regular infile arrive as fast as PortAudio asks, and past the file's
#   end the plugin hands out stale buffer contents. A pipe paces it instead
#   (reads block), and the writer keeps writing silence after the
#   recording, so the end is never reached; listen stops by --duration.
# - A read that finds less than it asked for is padded with silence, not
#   waited for. So every write into the pipe is exactly one PortAudio
#   period: listen's 20 ms callbacks, i.e. 20 ms chunks in the device's
#   format (<= PIPE_BUF bytes, so each write is atomic).
# - The infile has no header: it holds whatever format PortAudio negotiates.
#   earshot asks for float32, which `null` accepts, so the pipe carries raw
#   float32; the rate is the one listen opens (--rate), mono.
# - PortAudio opens every device while it enumerates them (pace_fifo
#   restarts when a reader leaves without reading), and its ALSA back end
#   asserts when no device is called "default", so the config names one.
# - Writing 4x faster than real time keeps the test short; the reader
#   simply keeps up (it is not a clock).
# Exits 77 (skipped) without the models, sox, or a usable ALSA device.
set -u
BIN=${EARSHOT_BIN:?run through meson test}
SRC=${EARSHOT_SRC:?run through meson test}
PACE=${EARSHOT_PACE_FIFO:?run through meson test}
FSDD=${EARSHOT_FSDD:-$SRC/../shared/data/fsdd}
S=$SRC/samples
if ! "$BIN" models >/dev/null 2>&1; then
    echo "SKIP: pretrained models not found (run scripts/fetch-models.sh or set EARSHOT_MODELS)"
    exit 77
fi
command -v sox >/dev/null || { echo "SKIP: sox not installed (scripts/setup.sh installs it)"; exit 77; }
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; [ -n "${EARSHOT_KEEP_TMP:-}" ] && echo "# kept $T" || rm -rf "$T"; }
trap cleanup EXIT
. "$(dirname -- "$0")/lib.sh"

# asoundrc NAME INFILE: a config with the virtual microphone earshot_mic
asoundrc() {
    cat > "$T/$1" <<EOF
pcm.earshot_mic {
    type file
    slave.pcm { type null }
    file "/dev/null"
    infile "$2"
    format "raw"
}
pcm.!default "earshot_mic"
EOF
}

# --- the device is listed (infile /dev/zero: opening it never blocks)
asoundrc zero.conf /dev/zero
export ALSA_CONFIG_PATH=$T/zero.conf
"$BIN" listen --list-devices > "$T/devices" 2> "$T/err"
if ! grep -q "earshot_mic.*ALSA" "$T/devices"; then
    echo "SKIP: PortAudio does not list the virtual ALSA capture device: $(head -c 300 "$T/err")"
    exit 77
fi
ok "--list-devices lists the virtual microphone with its host API"
has "$T/devices" "default" "--list-devices marks the default input"
expect 2 "listen without a model is a usage error" -- "$BIN" listen
expect 1 "an unknown device name" -- "$BIN" listen -D no_such_microphone hey_jarvis
has "$T/err" "no input device matches 'no_such_microphone'" "the unknown device is named in the error"
expect 1 "a device index out of range" -- "$BIN" listen -D 99 hey_jarvis
has "$T/err" "no device with index 99" "the bad index is named"
expect 1 "a missing model fails before the device is opened" -- "$BIN" listen "$T/missing.safetensors"
has "$T/err" "missing.safetensors" "the missing model is named"
expect 1 "--self-adapt with a pretrained head fails before the device is opened" -- "$BIN" listen -D no_such_microphone --self-adapt hey_jarvis
has "$T/err" "hey_jarvis: an openWakeWord head has no class means" "... and says why"

# --- the test recording: keywords and other speech between stretches of silence
sox -n -r 16000 -c 1 -b 16 "$T/sil.wav" trim 0 1.5
parts=("$T/sil.wav" "$S/hey_jarvis.wav" "$T/sil.wav" "$S/no_wake_word.wav" "$T/sil.wav" "$S/alexa.wav" "$T/sil.wav")
if [ -d "$FSDD" ]; then
    # real speech that is not a keyword (FSDD digits, 8 kHz: sox resamples)
    n=0
    for f in "$FSDD"/3_jackson_1.wav "$FSDD"/7_theo_2.wav "$FSDD"/1_nicolas_3.wav; do
        [ -f "$f" ] || continue
        sox "$f" -r 16000 -c 1 -b 16 "$T/fsdd$n.wav" && parts+=("$T/fsdd$n.wav" "$T/sil.wav") && n=$((n + 1))
    done
    echo "# FSDD digits between the keywords: $n"
else
    echo "# $FSDD absent: no FSDD digits in the recording"
fi
parts+=("$S/weather.wav" "$T/sil.wav" "$S/hey_jarvis.wav" "$T/sil.wav")
sox "${parts[@]}" "$T/rec.wav"
dur=$(soxi -D "$T/rec.wav")
MODELS=(hey_jarvis alexa weather)

# listen decides events early by default (transcribe --early); --no-early is transcribe's default
# (listen's quicker defaults, --smooth 3 --min-duration 0.16, given to transcribe)
"$BIN" transcribe -q --early --smooth 3 --min-duration 0.16 -m hey_jarvis -m alexa -m weather "$T/rec.wav" > "$T/batch.txt" 2> "$T/err" ||
    bad "transcribe --early of the recording: $(cat "$T/err")"
"$BIN" transcribe -q -m hey_jarvis -m alexa -m weather "$T/rec.wav" > "$T/batch_late.txt" 2> "$T/err" ||
    bad "transcribe of the recording: $(cat "$T/err")"
nb=$(wc -l < "$T/batch.txt")
[ "$nb" -ge 3 ] && ok "transcribe finds the keywords ($nb events)" || bad "transcribe found $nb events: $(cat "$T/batch.txt")"

# run_listen TAG RATE SPEED [listen options]: play rec.wav at RATE through the
# pipe and listen for `dur` seconds; events in $T/TAG.txt, stderr in $T/TAG.err
run_listen() {
    local tag=$1 rate=$2 speed=$3; shift 3
    sox "$T/rec.wav" -r "$rate" -t raw -e floating-point -b 32 -c 1 "$T/$tag.f32"
    rm -f "$T/$tag.fifo" && mkfifo "$T/$tag.fifo"
    asoundrc "$tag.conf" "$T/$tag.fifo"
    "$PACE" --bytes-per-second $((rate * 4)) --chunk-ms 20 --speed "$speed" --tail 10 --idle 2 "$T/$tag.fifo" "$T/$tag.f32" \
        2> "$T/$tag.pace" &
    local pace=$!
    PIDS+=("$pace")
    ALSA_CONFIG_PATH=$T/$tag.conf timeout 120 "$BIN" listen -D earshot_mic --rate "$rate" --duration "$dur" "$@" \
        "${MODELS[@]}" > "$T/$tag.txt" 2> "$T/$tag.err"
    local rc=$?
    wait "$pace" 2>/dev/null
    return $rc
}

# same_events A B TOL: same labels in the same order, start and end within TOL s
same_events() {
    awk -F'\t' -v tol="$3" '
        FNR == NR { a[++na] = $0; next }
        { b[++nb] = $0 }
        END {
            if (na != nb) { print "event counts differ: " na " vs " nb; exit 1 }
            for (i = 1; i <= na; i++) {
                split(a[i], x, "\t"); split(b[i], y, "\t")
                ds = x[1] - y[1]; de = x[2] - y[2]
                if (x[3] != y[3] || ds > tol || -ds > tol || de > tol || -de > tol) {
                    print "event " i " differs: " a[i] " vs " b[i]; exit 1
                }
            }
        }' "$1" "$2"
}

# --- 16 kHz: the samples reach the detector unchanged, so the events must be the batch run's
if run_listen l16 16000 4 --save-clips "$T/clips" --plot "$T/l16.svg"; then ok "listen at 16 kHz runs to --duration"; else bad "listen at 16 kHz: exit $?: $(cat "$T/l16.err")"; fi
has "$T/l16.err" "wrote $T/l16.svg" "--plot: says where the chart went"
# the banner names every model it listens with, joined as transcribe's JSON
# joins them (it named only the first: "with hey_jarvis")
has "$T/l16.err" "^earshot: listening on [0-9]* 'earshot_mic' (16000 Hz, 1 channel) with hey_jarvis+alexa+weather; Ctrl-C stops$" \
    "the banner names the device, its rate and all three models"
node -e '
  const svg = require("fs").readFileSync(process.argv[1], "utf8"), n = +process.argv[2];
  for (const t of [">hey_jarvis<", ">alexa<", ">weather<", ">microphone: earshot_mic", `; ${n} event${n === 1 ? "" : "s"} shaded`])
    if (!svg.includes(t)) throw new Error("lacks " + t);
  if ((svg.match(/fill-opacity="0.13"\/>/g) || []).length !== n + 1) throw new Error("not one shaded span per event");
  ' "$T/l16.svg" "$(wc -l < "$T/l16.txt")" 2>"$T/jerr" && ok "--plot: the session chart has the three heads and one span per event printed" ||
    bad "listen --plot: $(tr '\n' ' ' < "$T/jerr" | head -c 400)"
expect 2 "listen --plot to a missing folder" -- "$BIN" listen -D no_such_microphone --plot "$T/none/x.svg" hey_jarvis
has "$T/err" "does not exist" "... refused before the device, saying why"
echo x > "$T/afile"
expect 2 "listen --save-clips to a file" -- "$BIN" listen -D no_such_microphone --save-clips "$T/afile" hey_jarvis
has "$T/err" "afile is not a folder" "... refused before the device, as transcribe refuses it"
has "$T/l16.err" "overruns: 0" "no overruns at 16 kHz"
if msg=$(same_events "$T/batch.txt" "$T/l16.txt" 0.01); then
    ok "listen (16 kHz device) reports transcribe --early's events: $(cut -f3 "$T/l16.txt" | tr '\n' ' ')"
else
    bad "listen vs transcribe at 16 kHz: $msg"$'\n'"$(cat "$T/batch.txt")"$'\n--\n'"$(cat "$T/l16.txt" "$T/l16.err" "$T/l16.pace")"
fi
if awk -F'\t' 'FNR == NR { s[FNR] = $4; next } { d = s[FNR] - $4; if (d > 0.002 || d < -0.002) exit 1 }' "$T/batch.txt" "$T/l16.txt"; then
    ok "and the same scores"
else
    bad "scores differ: $(paste "$T/batch.txt" "$T/l16.txt")"
fi
nclips=$(ls "$T/clips" 2>/dev/null | grep -c '\.wav$')
[ "$nclips" = "$(wc -l < "$T/l16.txt")" ] && ok "--save-clips keeps one WAV per event ($nclips)" || bad "--save-clips wrote $nclips clips"
first=$(ls "$T/clips"/*hey_jarvis.wav 2>/dev/null | head -1)
if [ -n "$first" ] && [ "$(soxi -r "$first")" = 16000 ] && awk -v d="$(soxi -D "$first")" 'BEGIN { exit !(d > 0.6 && d < 5) }'; then
    ok "a clip is a 16 kHz WAV of the word ($(soxi -D "$first") s)"
else
    bad "clip: '$first' $(soxi "$first" 2>&1 | head -c 300)"
fi
ls "$T/clips" | grep -q '\.tmp\.' && bad "a temporary clip file was left behind" || ok "no temporary clip files left"

# --- --speakers: who said the word, live. The samples are espeak-ng's en-us
# voice; it is enrolled from other words, beside en+f3. At 16 kHz listen
# sees the batch run's samples, so it must name the speakers transcribe
# --early names, with the same scores.
if command -v espeak-ng >/dev/null; then
    for v in en-us en+f3; do for w in hello table window garden yellow; do
        espeak-ng -v "$v" -s 140 -w "$T/raw.wav" "$w" && sox "$T/raw.wav" -r 16000 -c 1 -b 16 "$T/enr_${w}_$v.wav"
    done; done
    "$BIN" enroll -q -n samples -p "$T/spk.safetensors" "$T"/enr_*_en-us.wav >/dev/null &&
        "$BIN" enroll -q -n other -p "$T/spk.safetensors" "$T"/enr_*_en+f3.wav >/dev/null || bad "enroll the voices"
    "$BIN" transcribe -q --early --smooth 3 --min-duration 0.16 -m hey_jarvis -m alexa -m weather --speakers "$T/spk.safetensors" "$T/rec.wav" \
        > "$T/batch_spk.txt" 2> "$T/err" || bad "transcribe --speakers: $(cat "$T/err")"
    if run_listen lspk 16000 4 --json --speakers "$T/spk.safetensors"; then ok "listen --speakers runs"; else bad "listen --speakers: exit $?: $(cat "$T/lspk.err")"; fi
    sed -E 's/.*"label": "([^"]*)", "start": ([0-9.]+), "end": ([0-9.]+), "score": ([0-9.]+), "model": "[^"]*", "speaker": "([^"]*)", "speaker_score": (-?[0-9.]+).*/\2\t\3\t\1\t\4\t\5\t\6/' \
        "$T/lspk.txt" > "$T/lspk.tsv"
    if awk -F'\t' 'FNR == NR { s[FNR] = $5; c[FNR] = $6; n++; next }
                  { m++; d = c[FNR] - $6; if (NF != 6 || $5 != s[FNR] || d > 0.002 || d < -0.002) exit 1 }
                  END { exit !(n == m && n > 0) }' "$T/batch_spk.txt" "$T/lspk.tsv"; then
        ok "listen --json names transcribe's speakers with the same scores: $(cut -f5 "$T/lspk.tsv" | tr '\n' ' ')"
    else
        bad "listen vs transcribe speakers:"$'\n'"$(cat "$T/batch_spk.txt")"$'\n--\n'"$(cat "$T/lspk.txt" "$T/lspk.err")"
    fi
    right=$(awk -F'\t' '$5 == "samples"' "$T/lspk.tsv" | wc -l)
    [ "$right" -ge $(( $(wc -l < "$T/lspk.tsv") - 1 )) ] && ok "the samples' voice named on $right of $(wc -l < "$T/lspk.tsv") events" ||
        bad "the samples' voice named on only $right events: $(cat "$T/lspk.tsv")"
    printf 'garbage' > "$T/bad.safetensors"
    expect 1 "listen with a corrupt profile fails before the device" -- "$BIN" listen -D no_such_microphone --speakers "$T/bad.safetensors" hey_jarvis
    has "$T/err" "bad.safetensors" "the corrupt profile is named"
else
    skip "listen --speakers" "espeak-ng not installed (scripts/setup.sh installs it)"
fi

# --- 48 kHz: resampled to 16 kHz on the way (not bit-identical: same words, times within 2 steps)
if run_listen l48 48000 4 --json --no-early --smooth 5 --min-duration 0.24; then ok "listen at 48 kHz runs"; else bad "listen at 48 kHz: exit $?: $(cat "$T/l48.err")"; fi
has "$T/l48.err" "48000 Hz" "the device is opened at 48 kHz"
sed -E 's/.*"label": "([^"]*)", "start": ([0-9.]+), "end": ([0-9.]+), "score": ([0-9.]+).*/\2\t\3\t\1\t\4/' "$T/l48.txt" > "$T/l48.tsv"
grep -q '"model": "hey_jarvis"' "$T/l48.txt" && ok "--json lines carry the model" || bad "--json: $(head -c 300 "$T/l48.txt")"
if msg=$(same_events "$T/batch_late.txt" "$T/l48.tsv" 0.17); then
    ok "listen --no-early (48 kHz device, resampled) reports transcribe's events"
else
    bad "listen at 48 kHz vs transcribe: $msg"$'\n'"$(cat "$T/batch_late.txt")"$'\n--\n'"$(cat "$T/l48.tsv" "$T/l48.err" "$T/l48.pace")"
fi

# --- Ctrl-C just after the last word: the final event still comes out. With
# --no-early the detector would report it only when the score has fallen
# again (about a second after the word); we interrupt 0.25 s after the word,
# so the event can only come from the drain and flush at the stop. Each
# output line is stamped with the time it arrived, to check just that.
sox "$T/sil.wav" "$S/alexa.wav" "$T/short.wav"
sox "$T/short.wav" -t raw -e floating-point -b 32 -c 1 "$T/int.f32"
word_end=$(sox "$T/short.wav" -t dat - | awk '!/^;/ { v = $2 < 0 ? -$2 : $2; if (v > 0.01) t = $1 } END { print t }')
rm -f "$T/int.fifo" && mkfifo "$T/int.fifo"
asoundrc int.conf "$T/int.fifo"
"$PACE" --bytes-per-second 64000 --chunk-ms 20 --tail 30 --idle 2 "$T/int.fifo" "$T/int.f32" 2> "$T/int.pace" &
PIDS+=($!)
stamp() { while IFS= read -r l; do printf '%s\t%s\n' "$EPOCHREALTIME" "$l"; done; }
ALSA_CONFIG_PATH=$T/int.conf "$BIN" listen -D earshot_mic --rate 16000 --no-early --plot "$T/int.svg" alexa 2> "$T/int.err" \
    > >(stamp > "$T/int.txt") &
lpid=$!
PIDS+=("$lpid")
for _ in $(seq 100); do grep -q "listening on" "$T/int.err" && break; sleep 0.1; done
sleep "$(awk -v d="$word_end" 'BEGIN { print d + 0.25 }')"
t_int=$EPOCHREALTIME
kill -INT "$lpid"
wait "$lpid"
rc=$?
sleep 0.2   # the stamping reader finishes its last line
[ "$rc" = 0 ] && ok "Ctrl-C stops listen cleanly (exit 0)" || bad "Ctrl-C: exit $rc: $(cat "$T/int.err")"
has "$T/int.err" "interrupted" "the summary says it was interrupted"
has "$T/int.err" "^earshot: listening on .* with alexa; Ctrl-C stops$" "one model: the banner names it alone"
if awk -F'\t' -v ti="$t_int" '$4 == "alexa" && $1 >= ti { f = 1 } END { exit !f }' "$T/int.txt"; then
    ok "the word said just before Ctrl-C is reported, after the interrupt (drained and flushed)"
else
    bad "Ctrl-C at $t_int (word end ${word_end}s): $(cat "$T/int.txt" "$T/int.err")"
fi
# --plot on the same path: the chart of the interrupted session, with the
# event that came out at the stop
has "$T/int.err" "wrote $T/int.svg" "Ctrl-C: --plot still writes the session chart"
node -e '
  const svg = require("fs").readFileSync(process.argv[1], "utf8");
  if (!svg.trimEnd().endsWith("</svg>")) throw new Error("not a whole SVG");
  if (!svg.includes(">alexa<")) throw new Error("lacks the alexa head");
  if ((svg.match(/fill-opacity="0.13"\/>/g) || []).length !== 2) throw new Error("not one shaded span for the one event");
  ' "$T/int.svg" 2>"$T/jerr" && ok "Ctrl-C: the chart is whole and shades the event reported at the stop" ||
    bad "Ctrl-C --plot: $(tr '\n' ' ' < "$T/jerr" | head -c 400)"

# --- SIGHUP (the terminal closed, an ssh session dropped) stops listen as
# Ctrl-C does: the chart is written. Before, SIGHUP went to main's handler,
# which died at once (exit 129) without the chart.
rm -f "$T/int.fifo" && mkfifo "$T/int.fifo"
"$PACE" --bytes-per-second 64000 --chunk-ms 20 --tail 30 --idle 2 "$T/int.fifo" "$T/int.f32" 2> /dev/null &
PIDS+=($!)
ALSA_CONFIG_PATH=$T/int.conf "$BIN" listen -D earshot_mic --rate 16000 --plot "$T/hup.svg" alexa > /dev/null 2> "$T/hup.err" &
lpid=$!
PIDS+=("$lpid")
for _ in $(seq 100); do grep -q "listening on" "$T/hup.err" && break; sleep 0.1; done
sleep 0.5
kill -HUP "$lpid"
wait "$lpid"
rc=$?
[ "$rc" = 0 ] && ok "SIGHUP stops listen cleanly (exit 0, as Ctrl-C)" || bad "SIGHUP: exit $rc: $(cat "$T/hup.err")"
has "$T/hup.err" "(interrupted)" "SIGHUP: the summary says it was interrupted"
has "$T/hup.err" "wrote $T/hup.svg" "SIGHUP: --plot still writes the session chart"
[ -s "$T/hup.svg" ] && tail -c 10 "$T/hup.svg" | grep -q "</svg>" && ok "SIGHUP: the chart is whole" || bad "SIGHUP: chart: $(ls -l "$T/hup.svg" 2>&1)"
# nohup's SIGHUP stays ignored: listen goes on until it is told to stop
rm -f "$T/int.fifo" && mkfifo "$T/int.fifo"
"$PACE" --bytes-per-second 64000 --chunk-ms 20 --tail 30 --idle 2 "$T/int.fifo" "$T/int.f32" 2> /dev/null &
PIDS+=($!)
ALSA_CONFIG_PATH=$T/int.conf nohup "$BIN" listen -D earshot_mic --rate 16000 alexa > /dev/null 2> "$T/nohup.err" &
lpid=$!
PIDS+=("$lpid")
for _ in $(seq 100); do grep -q "listening on" "$T/nohup.err" && break; sleep 0.1; done
kill -HUP "$lpid"
sleep 0.5
kill -0 "$lpid" 2>/dev/null && ok "under nohup, SIGHUP leaves listen running" || bad "nohup listen ended at SIGHUP: $(cat "$T/nohup.err")"
kill -TERM "$lpid"
wait "$lpid"
rc=$?
[ "$rc" = 0 ] && ok "... and SIGTERM then stops it cleanly" || bad "nohup listen after SIGTERM: exit $rc: $(cat "$T/nohup.err")"

# --- a second Ctrl-C while the chart is being written: listen dies at once
# (the device may hang), but the chart's temporary file goes with it
# (before, the second signal took the default action and left it). The
# shim (tests/slow_fsync.c) holds the chart's fsync, so the second signal
# lands while the temporary file exists.
if [ -n "${EARSHOT_SLOW_FSYNC_LIB:-}" ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
    rm -f "$T/int.fifo" && mkfifo "$T/int.fifo"
    "$PACE" --bytes-per-second 64000 --chunk-ms 20 --tail 30 --idle 2 "$T/int.fifo" "$T/int.f32" 2> /dev/null &
    PIDS+=($!)
    mkdir -p "$T/plot2"
    ALSA_CONFIG_PATH=$T/int.conf EARSHOT_SLOW_FSYNC=10 LD_PRELOAD=$EARSHOT_SLOW_FSYNC_LIB "$BIN" listen -D earshot_mic \
        --rate 16000 --plot "$T/plot2/s.svg" alexa > /dev/null 2> "$T/int2.err" &
    lpid=$!
    PIDS+=("$lpid")
    for _ in $(seq 100); do grep -q "listening on" "$T/int2.err" && break; sleep 0.1; done
    sleep 0.5
    kill -INT "$lpid"
    for _ in $(seq 200); do ls "$T/plot2"/s.svg.tmp.* > /dev/null 2>&1 && break; sleep 0.05; done
    ls "$T/plot2"/s.svg.tmp.* > /dev/null 2>&1 && ok "the chart is being written when the second Ctrl-C comes" ||
        bad "no temporary chart file after the first Ctrl-C: $(ls -A "$T/plot2") $(cat "$T/int2.err")"
    # from another process: a repeat from the same one within a second
    # is the same request (timeout's second signal; cli_catch_stop)
    sh -c 'kill -INT "$1"' _ "$lpid"
    wait "$lpid"
    rc=$?
    [ "$rc" = 130 ] && ok "a second Ctrl-C ends listen at once (exit 130)" || bad "second Ctrl-C: exit $rc: $(cat "$T/int2.err")"
    [ -z "$(ls -A "$T/plot2")" ] && ok "... leaving no temporary file and no half chart" || bad "left: $(ls -A "$T/plot2")"
    has "$T/int2.err" "interrupted by SIGINT" "... and says so"
else
    skip "a second Ctrl-C while the chart is written" "EARSHOT_SLOW_FSYNC_LIB not set (run through meson test)"
fi

# --- overruns are counted and reported: a regular file as the infile has no
# pace at all (the null slave has no clock), so the device delivers audio far
# faster than it can be processed and the ring must overflow
asoundrc fast.conf "$T/int.f32"
ALSA_CONFIG_PATH=$T/fast.conf timeout 60 "$BIN" listen -q -D earshot_mic --rate 16000 --duration 20 alexa \
    > "$T/fast.txt" 2> "$T/fast.err"
rc=$?
[ "$rc" = 0 ] && ok "listen survives a device far faster than real time" || bad "unpaced device: exit $rc: $(cat "$T/fast.err")"
if grep -Eq "warning: overruns: [1-9][0-9]* \([1-9][0-9]* frames" "$T/fast.err"; then
    ok "overruns are counted and reported, even with -q: $(grep -o 'overruns: [0-9]* ([0-9]* frames' "$T/fast.err")"
else
    bad "no overrun report: $(cat "$T/fast.err")"
fi

# --- the meter, on a pseudo-terminal (script(1))
if ! have_pty; then
    skip "--meter on a TTY" "no pseudo-terminal on this machine (script(1) cannot create one)"
else
    rm -f "$T/int.fifo" && mkfifo "$T/int.fifo"
    "$PACE" --bytes-per-second 64000 --chunk-ms 20 --speed 4 --tail 10 --idle 2 "$T/int.fifo" "$T/int.f32" 2> /dev/null &
    PIDS+=($!)
    script -qfec "ALSA_CONFIG_PATH=$T/int.conf \"$BIN\" listen -D earshot_mic --rate 16000 --duration 3.8 --meter alexa" \
        /dev/null > "$T/tty" 2>&1 < /dev/null
    grep -Eq "level [#.]{20} +-?[0-9.]+ dB  alexa [#.]{20} [0-9.]+" "$T/tty" && ok "--meter on a TTY: level and best score" ||
        bad "no meter on a TTY: $(head -c 300 "$T/tty")"
    grep -q "alexa	0" "$T/tty" && ok "events still printed with the meter" || bad "no event with --meter: $(tr '\r' '\n' < "$T/tty" | tail -5)"
fi
ALSA_CONFIG_PATH=$T/fast.conf "$BIN" listen -D earshot_mic --rate 16000 --duration 1 --meter alexa > /dev/null 2> "$T/err" < /dev/null
has "$T/err" "needs a terminal" "--meter without a terminal says so"

# --- --self-adapt, live: one voice (george's digits) heard by a model of
# four other speakers; listen learns the voice from its early events, as
# transcribe --early does from a file, so at 16 kHz the two must agree
if [ -f "$FSDD/0_george_10.wav" ]; then
    mkdir -p "$T/dig"
    for s in jackson lucas nicolas theo; do for d in 0 1 2 3 4 5 6 7 8 9; do
        for k in 0 1 2; do cp "$FSDD/${d}_${s}_$k.wav" "$T/dig/"; done; done; done
    "$BIN" train -q "$T/dig" --pattern '{label}_{speaker}_{take}' -o "$T/dig.safetensors" >/dev/null 2>"$T/err" ||
        bad "train the digit model: $(cat "$T/err")"
    parts=("$T/sil.wav")
    for k in 10 11; do for d in 3 8 6 1 0 9; do
        sox "$FSDD/${d}_george_$k.wav" -r 16000 -c 1 -b 16 "$T/g$d$k.wav" pad 0.6 0.6 && parts+=("$T/g$d$k.wav"); done; done
    sox "${parts[@]}" "$T/rec.wav"
    dur=$(soxi -D "$T/rec.wav")
    MODELS=("$T/dig.safetensors")
    "$BIN" transcribe -q --early --smooth 3 --min-duration 0.16 --self-adapt -m "$T/dig.safetensors" "$T/rec.wav" \
        > "$T/sa_batch.txt" 2> "$T/err" || bad "transcribe --early --self-adapt: $(cat "$T/err")"
    if run_listen lsa 16000 4 --self-adapt; then ok "listen --self-adapt runs"; else bad "listen --self-adapt: exit $?: $(cat "$T/lsa.err")"; fi
    n=$(wc -l < "$T/sa_batch.txt")
    if [ "$n" -ge 6 ] && msg=$(same_events "$T/sa_batch.txt" "$T/lsa.txt" 0.01) &&
        awk -F'\t' 'FNR == NR { s[FNR] = $4; next } { d = s[FNR] - $4; if (d > 0.002 || d < -0.002) exit 1 }' "$T/sa_batch.txt" "$T/lsa.txt"; then
        ok "listen --self-adapt reports transcribe --early --self-adapt's $n events, with the same scores"
    else
        bad "listen --self-adapt vs transcribe: ${msg:-}"$'\n'"$(paste "$T/sa_batch.txt" "$T/lsa.txt")"
    fi
else
    skip "listen --self-adapt" "FSDD not found at $FSDD"
fi

echo "# listen: $pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
