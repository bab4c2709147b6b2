#!/bin/bash
# Signals while earshot writes an output: the signal lands while the
# output's temporary file exists (tests/slow_fsync.c holds every fsync
# EARSHOT_SLOW_FSYNC seconds, and earshot fsyncs just before the rename),
# and what must hold after it: the exit status of the signal, a line on
# stderr for INT/TERM/HUP (none for SIGPIPE), no temporary file, and the
# older output intact. Then what a SIGKILL leaves (no handler runs): the
# next run that writes the same output removes it. Exits 77 (skipped)
# without the pretrained models.
set -u
. "$(dirname -- "$0")/lib.sh"
cli_test_begin sox
SRC=${EARSHOT_SRC:?run through meson test}
SHIM=${EARSHOT_SLOW_FSYNC_LIB:?run through meson test}
S=$SRC/samples
# a sanitizer build wants its runtime first in the preload list; the shim
# comes first here, which is fine for what it does
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# the dataset (a copy: train caches nothing beside it, but to be sure)
cp -r "$S/vocab" "$T/vocab"
expect 0 "train a model to start from" -- "$BIN" train -q "$T/vocab" -o "$T/old.safetensors"
oldsum=$(sha256sum <"$T/old.safetensors")

# slow_write SIG: train -o over an older model, signal SIG once the
# temporary file exists; the exit status goes to $rc, stderr to $T/sig.err
slow_write() {
    cp "$T/old.safetensors" "$T/m.safetensors"
    EARSHOT_SLOW_FSYNC=5 LD_PRELOAD=$SHIM "$BIN" train -q "$T/vocab" -o "$T/m.safetensors" >/dev/null 2>"$T/sig.err" &
    local pid=$! seen=0
    for _ in $(seq 1 600); do
        ls "$T"/m.safetensors.tmp.* >/dev/null 2>&1 && { seen=1; break; }
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    [ $seen = 1 ] && ok "SIG$1: the temporary file was there when the signal was sent" ||
        bad "SIG$1: no temporary file appeared: $(head -c 300 "$T/sig.err")"
    kill -"$1" $pid
    wait $pid
    rc=$?
}

for sig in TERM HUP; do
    slow_write $sig
    want=$((128 + $(kill -l $sig)))
    [ $rc = $want ] && ok "SIG$sig mid-write: exit $want" || bad "SIG$sig mid-write: exit $rc, wanted $want"
    has "$T/sig.err" "interrupted by SIG$sig; files not finished were not written" "SIG$sig: says what became of the output"
    ls "$T"/*.tmp.* >/dev/null 2>&1 && bad "SIG$sig: temporary file left: $(ls "$T"/*.tmp.*)" || ok "SIG$sig: no temporary file left"
    [ "$(sha256sum <"$T/m.safetensors")" = "$oldsum" ] && ok "SIG$sig: the older model is intact" || bad "SIG$sig: the older model changed"
done
# SIGPIPE (`earshot ... | head -1` while a file is written): it dies as
# quietly as any filter, and its temporary file goes too (before, SIGPIPE
# was not caught and the temporary file stayed)
slow_write PIPE
[ $rc = 141 ] && ok "SIGPIPE mid-write: exit 141" || bad "SIGPIPE mid-write: exit $rc"
[ -s "$T/sig.err" ] && bad "SIGPIPE: a message: $(cat "$T/sig.err")" || ok "SIGPIPE: nothing on stderr"
ls "$T"/*.tmp.* >/dev/null 2>&1 && bad "SIGPIPE: temporary file left: $(ls "$T"/*.tmp.*)" || ok "SIGPIPE: no temporary file left"
[ "$(sha256sum <"$T/m.safetensors")" = "$oldsum" ] && ok "SIGPIPE: the older model is intact" || bad "SIGPIPE: the older model changed"
# The same signal twice in a row, as `timeout` sends it (to the process,
# then to its process group): the second can reach another thread while
# the first one's handler runs (the shim holds that handler
# EARSHOT_SLOW_INTERRUPTED seconds once its line is out). One line, not
# one per signal.
# train embeds its clips on es_threads() threads (embed works on one, and
# since OpenBLAS's idle threads are shut down its process has no other);
# the clips differ (a gain each), or the cache would find all but two
mkdir -p "$T/many/a" "$T/many/b"
for i in $(seq 100 299); do
    sox "$S/hey_jarvis.wav" "$T/many/a/a$i.wav" vol 0.$i
    sox "$S/alexa.wav" "$T/many/b/b$i.wav" vol 0.$i
done
EARSHOT_CACHE=$T/manycache EARSHOT_SLOW_INTERRUPTED=1 LD_PRELOAD=$SHIM "$BIN" train -q "$T/many" -o "$T/many.safetensors" \
    >/dev/null 2>"$T/twice.err" &
pid=$!
threads=0
for _ in $(seq 1 600); do
    [ -n "$(find "$T/manycache" -name '*.npy' 2>/dev/null | head -1)" ] && threads=$(ls /proc/$pid/task 2>/dev/null | wc -l)
    [ "$threads" -ge 2 ] && break
    sleep 0.05
done
kill -TERM $pid; sleep 0.3; kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
[ $rc = 143 ] && ok "SIGTERM twice: exit 143" || bad "SIGTERM twice: exit $rc: $(cat "$T/twice.err")"
[ "$threads" -ge 2 ] || skip "SIGTERM twice from two threads" "train ran $threads thread(s) (one CPU?): the second signal waits for the first handler"
[ "$(grep -c "interrupted by SIGTERM" "$T/twice.err")" = 1 ] && ok "SIGTERM twice: the line is printed once ($threads threads)" ||
    bad "SIGTERM twice: $(cat "$T/twice.err")"
left=$(find "$T/manycache" "$T" -maxdepth 1 -name '*.tmp.*'; find "$T/manycache" -name '*.tmp.*')
[ -z "$left" ] && [ ! -e "$T/many.safetensors" ] && ok "SIGTERM twice: no model, no temporary file left" || bad "SIGTERM twice left: $left"
# a real SIGKILL mid-write leaves the temporary file (no handler runs) ...
slow_write KILL
[ $rc = 137 ] && ok "SIGKILL mid-write: exit 137" || bad "SIGKILL mid-write: exit $rc"
[ "$(sha256sum <"$T/m.safetensors")" = "$oldsum" ] && ok "SIGKILL: the older model is intact" || bad "SIGKILL: the older model changed"
killed=$(ls "$T"/m.safetensors.tmp.* 2>/dev/null)
[ -n "$killed" ] && ok "SIGKILL: its temporary file stays, as expected" || bad "SIGKILL: no temporary file (the kill missed the write?)"
# ... and the next run that writes the output removes it (before, it
# stayed for good: the next run's pid differs, and nothing looked)
expect 0 "train again after the SIGKILL" -- "$BIN" train -q "$T/vocab" -o "$T/m.safetensors"
ls "$T"/m.safetensors.tmp.* >/dev/null 2>&1 && bad "the killed run's temporary file stays: $(ls "$T"/m.safetensors.tmp.*)" ||
    ok "the next train -o removed the killed run's temporary file"
# a live process's temporary file is another writer's, under way: kept
sleep 60 & live=$!
echo partial >"$T/m.safetensors.tmp.$live"
expect 0 "train with another writer's temporary file beside the output" -- "$BIN" train -q "$T/vocab" -o "$T/m.safetensors"
[ -e "$T/m.safetensors.tmp.$live" ] && ok "a live process's temporary file is left alone" || bad "a live writer's temporary file was removed"
kill $live; wait $live 2>/dev/null; rm -f "$T/m.safetensors.tmp.$live"
# the process id of a process that is gone
(exit 0) & dead=$!; wait $dead
# enroll -p
echo partial >"$T/p.safetensors.tmp.$dead"
# and one of a killed run whose pid a live process has now (pids are
# reused): its name's start time is not that process's (see es_tag_state)
sleep 60 & reused=$!
echo partial >"$T/p.safetensors.tmp.$reused-1"
expect 0 "enroll after a killed enroll" -- "$BIN" enroll -q -n jarvis -p "$T/p.safetensors" "$S/hey_jarvis.wav" "$S/weather.wav"
[ -e "$T/p.safetensors.tmp.$dead" ] && bad "enroll -p: the killed run's temporary file stays" || ok "enroll -p: the killed run's temporary file is gone"
if [ -r /proc/$reused/stat ]; then
    [ -e "$T/p.safetensors.tmp.$reused-1" ] && bad "enroll -p: a killed run's temporary file stays while its pid is reused" ||
        ok "enroll -p: so is one whose pid is reused"
else
    skip "a temporary file of a reused pid" "no /proc"
fi
# folders: embed -o, transcribe -d (its sub-folders too), --save-clips. A
# dead process's temporary files of the kinds earshot writes go; a file of
# the user's that merely looks like one stays.
mkdir -p "$T/emb" "$T/tx/sub" "$T/clips/sub" "$T/in/sub"
echo partial >"$T/emb/hey_jarvis.npy.tmp.$dead"
echo partial >"$T/emb/other.npy.tmp.$dead"
echo mine >"$T/emb/notes.tmp.$dead"
[ -r /proc/$reused/stat ] && echo partial >"$T/emb/reused.npy.tmp.$reused-1"
rstart=$(sed 's/.*) //' /proc/$reused/stat 2>/dev/null | cut -d' ' -f20)
[ -n "$rstart" ] && echo partial >"$T/emb/live.npy.tmp.$reused-$rstart"
expect 0 "embed into a folder a killed embed wrote in" -- "$BIN" embed -q "$S/hey_jarvis.wav" -o "$T/emb"
want="hey_jarvis.npy ${rstart:+live.npy.tmp.$reused-$rstart }notes.tmp.$dead "
[ "$(ls "$T/emb" | tr '\n' ' ')" = "$want" ] && ok "embed -o: the killed runs' temporary files are gone (a reused pid's too), the user's file and a live run's stay" ||
    bad "embed -o folder: $(ls "$T/emb")"
rm -f "$T/emb/live.npy.tmp.$reused-$rstart"
kill $reused; wait $reused 2>/dev/null
cp "$S/vocab_demo.flac" "$T/in/sub/demo.flac"
echo partial >"$T/tx/sub/demo.json.tmp.$dead"
echo partial >"$T/tx/sub/gone.txt.tmp.$dead"
echo partial >"$T/clips/sub/demo_0001_play.wav.tmp.$dead"
expect 0 "transcribe into folders a killed transcribe wrote in" -- "$BIN" transcribe -q -m "$T/old.safetensors" -ojson -d "$T/tx" --save-clips "$T/clips" "$T/in"
[ "$(find "$T/tx" "$T/clips" -name '*.tmp.*' | wc -l)" = 0 ] && ok "transcribe -d and --save-clips: no temporary file left" ||
    bad "left: $(find "$T/tx" "$T/clips" -name '*.tmp.*')"
[ -s "$T/tx/sub/demo.json" ] && [ -s "$T/clips/sub/demo_0001_play.wav" ] && ok "... and the outputs are there" || bad "outputs: $(ls -R "$T/tx" "$T/clips")"

# Durable means the name too: after its rename, an output's folder is
# synced (fsync of the file makes its bytes durable, not the rename; a
# power cut before the folder reaches the disk brings the old file back).
# The shim logs every fsync and rename in order (EARSHOT_SYNC_LOG).
# synced_after LOG DIR: a "fsync dir DIR" comes after the last rename into
# DIR (and there was one)
synced_after() {
    awk -v d="$2" '
        $1 == "rename" { to = $3; sub(/\/[^\/]*$/, "", to); if (to == d) { last = NR; synced = 0 } }
        $1 == "fsync" && $2 == "dir" && $3 == d { if (last) synced = 1 }
        END { exit !(last && synced) }' "$1"
}
R=$(realpath "$T")
mkdir -p "$R/dur"
EARSHOT_SYNC_LOG=$R/sync.log LD_PRELOAD=$SHIM "$BIN" train -q "$T/vocab" -o "$R/dur/m.safetensors" >/dev/null 2>&1
synced_after "$R/sync.log" "$R/dur" && ok "train -o: the model's folder is synced after its rename" ||
    bad "train -o: no folder sync after the rename: $(grep -v /cache "$R/sync.log" | tail -5)"
# transcribe -d: thousands of outputs, so each folder once, at the end
# (after the last rename into it), the new folders' parents too
rm -f "$R/sync.log"
EARSHOT_SYNC_LOG=$R/sync.log LD_PRELOAD=$SHIM "$BIN" transcribe -q -m "$T/old.safetensors" -otxt -ojson -d "$R/dtx" \
    "$T/in" "$S/hey_jarvis.wav" "$S/weather.wav" >/dev/null 2>&1
for d in "$R/dtx" "$R/dtx/sub"; do
    synced_after "$R/sync.log" "$d" && ok "transcribe -d: ${d#$R/} synced after its last output's rename" ||
        bad "transcribe -d: ${d#$R/} not synced after its last rename: $(tail -5 "$R/sync.log")"
done
n=$(grep -c "^fsync dir $R/dtx\$" "$R/sync.log")
[ "$n" = 1 ] && ok "transcribe -d: the folder is synced once, not once per output" || bad "transcribe -d: $n syncs of the folder"
grep -q "^fsync dir $R\$" "$R/sync.log" && ok "transcribe -d: the new folder's own parent is synced" ||
    bad "transcribe -d: the parent of the new folder is not synced"
rm -f "$R/sync.log"
EARSHOT_SYNC_LOG=$R/sync.log LD_PRELOAD=$SHIM "$BIN" embed -q "$S/hey_jarvis.wav" "$S/weather.wav" -o "$R/demb" >/dev/null 2>&1
synced_after "$R/sync.log" "$R/demb" && [ "$(grep -c "^fsync dir $R/demb\$" "$R/sync.log")" = 1 ] &&
    ok "embed -o: the folder is synced once, after the last file" || bad "embed -o: $(cat "$R/sync.log")"
# A folder sync the file system tries and fails (EIO, a full disk) is
# said: the file is in place and the command succeeds, but the name may
# not survive a power cut. Before, it went without a word.
expect 0 "embed -o when the folder's sync fails" -- env EARSHOT_FSYNC_ENOSPC="$R/fembed" LD_PRELOAD=$SHIM \
    "$BIN" embed -q "$S/weather.wav" -o "$R/fembed"
has "$T/err" "warning: .*fembed: the folder could not be synced (No space left on device): the names just written into it may not survive a power cut" \
    "... says so, naming the folder and the reason"
[ -s "$R/fembed/weather.npy" ] && ok "... and the file is in place" || bad "... no weather.npy"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
