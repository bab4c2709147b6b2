#!/bin/bash
# Live-path benchmark: CPU time and event latency of `earshot listen` on a
# virtual microphone (the ALSA file plugin reading a pipe that
# tests/pace_fifo fills at real-time pace; see tests/test_listen.sh for why
# it is built this way).
#
#   bench/listen.sh [--minutes M] [--model MODEL] [--rate HZ] [--build DIR] [--keep DIR]
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
#
# The stream: every 12 s, 1.5 s of silence, the keyword, 2 s of silence,
# samples/no_wake_word.wav, then silence; all over low pink noise (so the
# front end never sees digital silence). The keyword's end in the stream is
# known: its placement plus the last sample above -40 dBFS in the keyword
# recording.
#
# CPU: user + system time of the earshot process (GNU time, or
# getrusage through es_bench maxrss's sibling when time is absent), divided
# by the wall time of the run, in % of one core; the run includes start-up
# (loading the models), which the per-audio-second figure spreads over M
# minutes.
#
# Latency: pace_fifo logs the wall-clock time at which each 20 ms chunk (one PortAudio period: see tests/test_listen.sh)
# entered the pipe; each event line of listen --json is stamped with the
# wall clock ($EPOCHREALTIME) as a reader receives it. Latency = stamp -
# time the chunk holding the keyword's last sample entered the pipe. It
# therefore includes PortAudio's period (20 ms), the ring, the 80 ms
# detector step and the detector's decision delay, as a user would see it.
set -euo pipefail
root=$(cd "$(dirname -- "$0")/.." && pwd)
minutes=10 model=hey_jarvis rate=16000 build=$root/build keep="" keyword=$root/samples/hey_jarvis.wav
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --keyword) keyword=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
        *) echo "bench/listen.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
BIN=$build/earshot PACE=$build/tests/pace_fifo
for x in "$BIN" "$PACE"; do [ -x "$x" ] || { echo "bench/listen.sh: $x not built (ninja -C $build)" >&2; exit 1; }; done
command -v sox >/dev/null || { echo "bench/listen.sh: sox is needed (scripts/setup.sh installs it)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/listen.sh: GNU time is needed (Debian package time; scripts/setup.sh installs it)" >&2; exit 1; }
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; if [ -n "$keep" ]; then mkdir -p "$keep"; cp -r "$T"/. "$keep"/; fi; rm -rf "$T"' EXIT

# --- the stream
period=12
n=$(awk -v m="$minutes" -v p=$period 'BEGIN { print int(m * 60 / p) }')
sox "$keyword" -r 16000 -c 1 -b 16 "$T/kw.wav"
sox "$root/samples/no_wake_word.wav" -r 16000 -c 1 -b 16 "$T/other.wav"
kw_len=$(soxi -D "$T/kw.wav")
other_len=$(soxi -D "$T/other.wav")
# last sample above -40 dBFS (0.01 of full scale) in the keyword
kw_end=$(sox "$T/kw.wav" -t dat - | awk '!/^;/ { v = $2 < 0 ? -$2 : $2; if (v > 0.01) t = $1 } END { print t }')
sox -n -r 16000 -c 1 -b 16 "$T/s15.wav" trim 0 1.5
sox -n -r 16000 -c 1 -b 16 "$T/s2.wav" trim 0 2
rest=$(awk -v p=$period -v a="$kw_len" -v b="$other_len" 'BEGIN { print p - 1.5 - a - 2 - b }')
sox -n -r 16000 -c 1 -b 16 "$T/rest.wav" trim 0 "$rest"
sox "$T/s15.wav" "$T/kw.wav" "$T/s2.wav" "$T/other.wav" "$T/rest.wav" "$T/unit.wav"
sox -n -r 16000 -c 1 -b 16 "$T/noise.wav" synth $((minutes * 60)) pinknoise vol 0.003
units=()
for ((i = 0; i < n; i++)); do units+=("$T/unit.wav"); done
sox "${units[@]}" "$T/clean.wav"
sox -m "$T/clean.wav" "$T/noise.wav" "$T/stream.wav" trim 0 "$((minutes * 60))"
sox "$T/stream.wav" -r "$rate" -t raw -e floating-point -b 32 -c 1 "$T/stream.f32"
dur=$(soxi -D "$T/stream.wav")
# truth: keyword i ends at i*period + 1.5 + kw_end
echo "stream: $minutes min, $n keywords ($(basename "$keyword"), speech ends ${kw_end}s into its ${kw_len}s), at $rate Hz"

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
    "$BIN" listen --json -D earshot_mic --rate "$rate" --duration "$dur" "$model" 2> "$T/listen.err" | stamp > "$T/events"
wait $pace || true
cat "$T/listen.err" "$T/pace.err" | grep -v '^earshot: listening' | sed 's/^/  /'

read -r user sys wall maxkb < "$T/time"
awk -v u="$user" -v s="$sys" -v w="$wall" -v d="$dur" -v m="$maxkb" 'BEGIN {
    printf "CPU: user %.2f s + system %.2f s over %.1f s wall (%.1f s of audio) = %.2f%% of one core   (target <= 2%%)  %s\n",
           u, s, w, d, 100 * (u + s) / w, (100 * (u + s) / w <= 2) ? "PASS" : "MISS"
    printf "     peak RSS %.1f MB\n", m / 1024 }'

# --- latency per event (plain awk: Debian's default awk is mawk)
awk -v period=$period -v kwend="$kw_end" -v n="$n" '
    FILENAME == ARGV[1] { pa[++np] = $1; pw[np] = $2; next }      # pace log: audio s, wall s
    {
        if (!match($0, /"start": [0-9.]+/)) next
        st = substr($0, RSTART + 9, RLENGTH - 9) + 0
        match($0, /"end": [0-9.]+/); en = substr($0, RSTART + 7, RLENGTH - 7) + 0
        i = int((st + en) / 2 / period)                             # which keyword
        c = (st + en) / 2 - i * period
        if (i >= n || c < 1.0 || c > 1.5 + 3.5) { print "false", st, en; next }
        if (seen[i]++) { print "repeat", st, en; next }
        truth = i * period + 1.5 + kwend
        # wall time at which the chunk holding the keyword end entered the pipe
        lo = 1; hi = np
        while (lo < hi) { mid = int((lo + hi) / 2); if (pa[mid] >= truth) hi = mid; else lo = mid + 1 }
        printf "hit %.4f %.3f %.3f\n", $1 - pw[lo], st - (i * period + 1.5), en - truth
    }' "$T/pace.log" "$T/events" > "$T/matched"
sort -k2,2n "$T/matched" | awk -v n="$n" '
    $1 == "false" { fp++ } $1 == "repeat" { dup++ }
    $1 == "hit" { lat[++nl] = $2; s += $2; se += $3; ee += $4 }
    END {
        if (!nl) { print "latency: no keyword detected"; exit 1 }
        p50 = lat[int((nl + 1) / 2)]; k90 = int(nl * 0.9 + 0.5); if (k90 < 1) k90 = 1
        printf "events: %d of %d keywords detected, %d false, %d repeated; mean start error %+.3f s (vs the keyword file start), end error %+.3f s (vs its speech end)\n",
               nl, n, fp, dup, se / nl, ee / nl
        printf "latency (keyword end -> event line received): median %.0f ms, mean %.0f ms, p90 %.0f ms, max %.0f ms, min %.0f ms   (target <= 250 ms)  %s\n",
               1000 * p50, 1000 * s / nl, 1000 * lat[k90], 1000 * lat[nl], 1000 * lat[1], p50 <= 0.25 ? "PASS" : "MISS"
    }'
