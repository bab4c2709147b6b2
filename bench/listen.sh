#!/bin/bash
# Live-path benchmark: CPU time and event latency of `earshot listen` on a
# virtual microphone (the ALSA file plugin reading a pipe that
# tests/pace_fifo fills at real-time pace; see tests/test_listen.sh for why
# it is built this way).
#
#   bench/listen.sh [--minutes M] [--model MODEL] [--rate HZ] [--build DIR] [--keep DIR]
#                   [--stream WAV --truth TSV] [--threshold T] [--smooth N]
#                   [--min-duration S] [--no-early]
#
#   --minutes M   length of the run (default 10)
#   --model M     model to listen with (default hey_jarvis; a path to a
#                 trained .safetensors works too, with --keyword WAV saying
#                 what to play)
#   --keyword WAV the keyword recording placed in the stream (default
#                 samples/hey_jarvis.wav)
#   --rate HZ     device rate (default 16000; 48000 adds the resampler)
#   --build DIR   build directory (default build)
#   --keep DIR    keep the stream, pace log and listen output in DIR
#   --stream WAV --truth TSV
#                 play WAV instead (e.g. a long-form file of
#                 tests/longform_tool make, with a 12-label model trained on
#                 its training set); TSV: label, start, end per line (labels
#                 starting with # are other speech, not keywords)
#   --threshold T, --smooth N, --min-duration S, --no-early
#                 passed to earshot listen
#
# The stream: every 12 s, 1.5 s of silence, the keyword, 2 s of silence,
# samples/no_wake_word.wav, then silence; all over low pink noise (so the
# front end never sees digital silence). The keyword's extent in the stream
# is known: its placement plus the first and last sample above -40 dBFS in
# the keyword recording.
#
# CPU: user + system time of the earshot process (GNU time: all its
# threads, PortAudio's included), divided by the wall time of the run, in %
# of one core; it includes start-up (loading the models, about 0.1 s).
#
# Latency: pace_fifo logs the wall-clock time at which each 20 ms chunk
# (one PortAudio period: see tests/test_listen.sh) entered the pipe; each event line of listen --json is stamped with the
# wall clock ($EPOCHREALTIME) as a reader receives it. Latency = stamp -
# time the chunk holding the keyword's last sample entered the pipe. It
# therefore includes PortAudio's period (20 ms), the ring, the 80 ms
# detector step and the detector's decision delay, as a user would see it.
set -euo pipefail
root=$(cd "$(dirname -- "$0")/.." && pwd)
minutes=10 model=hey_jarvis rate=16000 build=$root/build keep="" keyword=$root/samples/hey_jarvis.wav
stream="" truth="" lopts=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --keyword) keyword=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --stream) stream=$2; shift 2 ;;
        --truth) truth=$2; shift 2 ;;
        --threshold) lopts+=(--threshold "$2"); shift 2 ;;
        --smooth) lopts+=(--smooth "$2"); shift 2 ;;
        --min-duration) lopts+=(--min-duration "$2"); shift 2 ;;
        --no-early) lopts+=(--no-early); shift ;;
        -h|--help) sed -n '2,47p' "$0"; exit 0 ;;
        *) echo "bench/listen.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
BIN=$build/earshot PACE=$build/tests/pace_fifo
for x in "$BIN" "$PACE"; do [ -x "$x" ] || { echo "bench/listen.sh: $x not built (ninja -C $build)" >&2; exit 1; }; done
command -v sox >/dev/null || { echo "bench/listen.sh: sox is needed (scripts/setup.sh installs it)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/listen.sh: GNU time is needed (Debian package time; scripts/setup.sh installs it)" >&2; exit 1; }
T=$(mktemp -d)
# (|| true: with no job left, kill with no argument fails, and under set -e
# the rest of the trap, --keep and the clean-up, never ran)
trap 'kill $(jobs -p) 2>/dev/null || true; if [ -n "$keep" ]; then mkdir -p "$keep"; cp -r "$T"/. "$keep"/; fi; rm -rf "$T"' EXIT

# --- the stream, and the truth: label, start, end of each keyword
if [ -n "$stream" ]; then
    [ -f "$truth" ] || { echo "bench/listen.sh: --stream needs --truth TSV" >&2; exit 2; }
    sox -R "$stream" -r 16000 -c 1 -b 16 "$T/stream.wav"
    awk -F'\t' '$1 !~ /^#/' "$truth" > "$T/truth.tsv"
    echo "stream: $(basename "$stream"), $(soxi -D "$T/stream.wav") s, $(wc -l < "$T/truth.tsv") keywords, at $rate Hz"
else
    period=12
    n=$(awk -v m="$minutes" -v p=$period 'BEGIN { print int(m * 60 / p) }')
    sox -R "$keyword" -r 16000 -c 1 -b 16 "$T/kw.wav"
    sox -R "$root/samples/no_wake_word.wav" -r 16000 -c 1 -b 16 "$T/other.wav"
    kw_len=$(soxi -D "$T/kw.wav")
    other_len=$(soxi -D "$T/other.wav")
    # first and last sample above -40 dBFS (0.01 of full scale) in the keyword
    kw_start=$(sox "$T/kw.wav" -t dat - | awk '!/^;/ { v = $2 < 0 ? -$2 : $2; if (v > 0.01 && t == "") t = $1 } END { print t }')
    kw_end=$(sox "$T/kw.wav" -t dat - | awk '!/^;/ { v = $2 < 0 ? -$2 : $2; if (v > 0.01) t = $1 } END { print t }')
    sox -n -r 16000 -c 1 -b 16 "$T/s15.wav" trim 0 1.5
    sox -n -r 16000 -c 1 -b 16 "$T/s2.wav" trim 0 2
    rest=$(awk -v p=$period -v a="$kw_len" -v b="$other_len" 'BEGIN { print p - 1.5 - a - 2 - b }')
    sox -n -r 16000 -c 1 -b 16 "$T/rest.wav" trim 0 "$rest"
    sox -R "$T/s15.wav" "$T/kw.wav" "$T/s2.wav" "$T/other.wav" "$T/rest.wav" "$T/unit.wav"
    sox -R -n -r 16000 -c 1 -b 16 "$T/noise.wav" synth $((minutes * 60)) pinknoise vol 0.003
    units=()
    for ((i = 0; i < n; i++)); do units+=("$T/unit.wav"); done
    sox -R "${units[@]}" "$T/clean.wav"
    sox -R -m "$T/clean.wav" "$T/noise.wav" "$T/stream.wav" trim 0 "$((minutes * 60))"
    # truth: keyword i ends at i*period + 1.5 + kw_end
    echo "stream: $minutes min, $n keywords ($(basename "$keyword"), speech ${kw_start}-${kw_end}s of its ${kw_len}s), at $rate Hz"

    awk -v n="$n" -v p=$period -v a="$kw_start" -v b="$kw_end" -v l="$(basename "$model" .safetensors)" \
        'BEGIN { for (i = 0; i < n; i++) printf "%s\t%.4f\t%.4f\n", l, i * p + 1.5 + a, i * p + 1.5 + b }' > "$T/truth.tsv"
fi
sox -R "$T/stream.wav" -r "$rate" -t raw -e floating-point -b 32 -c 1 "$T/stream.f32"
dur=$(soxi -D "$T/stream.wav")

# --- the virtual microphone
mkfifo "$T/mic.fifo"
cat > "$T/asoundrc" <<EOF
pcm.earshot_mic { type file; slave.pcm { type null }; file "/dev/null"; infile "$T/mic.fifo"; format "raw" }
pcm.!default "earshot_mic"
EOF
bps=$((rate * 4))
"$PACE" --bytes-per-second $bps --chunk-ms 20 --tail 30 --idle 2 --log "$T/pace.log" "$T/mic.fifo" "$T/stream.f32" \
    2> "$T/pace.err" &
pace=$!
stamp() { while IFS= read -r l; do printf '%s\t%s\n' "$EPOCHREALTIME" "$l"; done; }
ALSA_CONFIG_PATH=$T/asoundrc /usr/bin/time -f "%U %S %e %M" -o "$T/time" \
    "$BIN" listen --json -D earshot_mic --rate "$rate" --duration "$dur" "${lopts[@]}" "$model" 2> "$T/listen.err" | stamp > "$T/events"
wait $pace || true
cat "$T/listen.err" "$T/pace.err" | grep -v '^earshot: listening' | sed 's/^/  /'

read -r user sys wall maxkb < "$T/time"
awk -v u="$user" -v s="$sys" -v w="$wall" -v d="$dur" -v m="$maxkb" 'BEGIN {
    printf "CPU: user %.2f s + system %.2f s over %.1f s wall (%.1f s of audio) = %.2f%% of one core   (target <= 2%%)  %s\n",
           u, s, w, d, 100 * (u + s) / w, (100 * (u + s) / w <= 2) ? "PASS" : "MISS"
    printf "     peak RSS %.1f MB\n", m / 1024 }'

# --- events against the truth, and latency (plain awk: Debian's default awk is mawk)
# An event matches an unmatched keyword of its label whose centre is within
# 0.5 s of its own (as tests/longform_tool scores); latency = the time the
# line arrived - the time the chunk holding the keyword's end entered the pipe.
awk -F'\t' '
    FILENAME == ARGV[1] { split($0, f, " "); pa[++np] = f[1]; pw[np] = f[2]; next }   # pace log
    FILENAME == ARGV[2] { tl[++nt] = $1; ts[nt] = $2; te[nt] = $3; next }            # truth
    {
        line = $2
        if (!match(line, /"label": "[^"]*"/)) next
        lab = substr(line, RSTART + 10, RLENGTH - 11)
        match(line, /"start": [0-9.]+/); st = substr(line, RSTART + 9, RLENGTH - 9) + 0
        match(line, /"end": [0-9.]+/); en = substr(line, RSTART + 7, RLENGTH - 7) + 0
        c = (st + en) / 2; best = 0
        for (k = 1; k <= nt; k++) {
            if (used[k] || tl[k] != lab) continue
            d = c - (ts[k] + te[k]) / 2; if (d < 0) d = -d
            if (d <= 0.5 && (!best || d < bd)) { best = k; bd = d }
        }
        if (!best) { print "false"; next }
        used[best] = 1
        lo = 1; hi = np
        while (lo < hi) { mid = int((lo + hi) / 2); if (pa[mid] >= te[best]) hi = mid; else lo = mid + 1 }
        printf "hit %.4f %.4f\n", $1 - pw[lo], st - ts[best]
    }
    END { print "truths", nt }' "$T/pace.log" "$T/truth.tsv" "$T/events" > "$T/matched"
sort -k2,2n "$T/matched" | awk '
    $1 == "truths" { nt = $2 } $1 == "false" { fp++ }
    $1 == "hit" { lat[++nl] = $2; s += $2; e = $3 < 0 ? -$3 : $3; se += e }
    END {
        if (!nl) { print "latency: no keyword detected"; exit 1 }
        p50 = lat[int((nl + 1) / 2)]; k90 = int(nl * 0.9 + 0.5); if (k90 < 1) k90 = 1
        pr = nl / (nl + fp); rc = nl / nt
        printf "events: %d of %d keywords detected, %d false: precision %.3f, recall %.3f, F1 %.3f; mean |start error| %.0f ms\n",
               nl, nt, fp, pr, rc, 2 * pr * rc / (pr + rc), 1000 * se / nl
        printf "latency (keyword end -> event line received): median %.0f ms, mean %.0f ms, p90 %.0f ms, min %.0f ms, max %.0f ms   (target <= 250 ms)  %s\n",
               1000 * p50, 1000 * s / nl, 1000 * lat[k90], 1000 * lat[1], 1000 * lat[nl], p50 <= 0.25 ? "PASS" : "MISS"
    }'
