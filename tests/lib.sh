# Sourced by the shell tests: tiny assertion helpers. The caller sets $T
# (a temporary directory; cli_test_begin makes one); each test script
# prints its own summary line.
# A suite started under nohup (or by anything that ignores SIGHUP) hands
# every process SIGHUP ignored, and earshot leaves an inherited ignore in
# place, as a program under nohup should; the tests that send SIGHUP and
# wait for a stop then failed or hung until meson's timeout (test_signals,
# test_listen 300 s, test_transcribe 600 s). bash cannot undo an ignore it
# was started with, so the script starts again with SIGHUP at its default.
hup_ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status 2>/dev/null)
if [ -z "${EARSHOT_TEST_HUP_RESET:-}" ] && [ -n "$hup_ign" ] && [ $(( 0x$hup_ign & 1 )) = 1 ] &&
   env --default-signal=HUP true 2>/dev/null; then
    export EARSHOT_TEST_HUP_RESET=1
    exec env --default-signal=HUP bash "$0" "$@"
fi
unset hup_ign
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
# expect CODE DESCRIPTION -- command...: the exit status must be CODE;
# stdout and stderr land in $T/out and $T/err
expect() {
    local want=$1 what=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"; local got=$?
    if [ "$got" = "$want" ]; then ok "$what"; else bad "$what (exit $got, wanted $want): $(head -c 400 "$T/err")"; fi
}
# has FILE PATTERN DESCRIPTION: grep PATTERN in FILE
has() { if grep -q -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in $(head -c 400 "$1")"; fi; }
# skip WHAT WHY: a check this machine cannot run; counted apart, never as a pass
skipped=0
skip() { skipped=$((skipped + 1)); echo "SKIP $1: $2"; }
# have_pty: script(1) can give a command a pseudo-terminal here (a chroot
# without /dev/pts, or a container without ptys, cannot)
have_pty() { command -v script >/dev/null && script -qfec true /dev/null >/dev/null 2>&1 </dev/null; }
# cli_test_begin [COMMAND...]: the earshot binary in $BIN, a temporary $T
# removed at exit with the embedding and synthesis caches inside it; skips (77) without
# the pretrained models or without any COMMAND named (espeak-ng, node)
cli_test_begin() {
    BIN=${EARSHOT_BIN:?run through meson test}
    "$BIN" models >/dev/null 2>&1 || { echo "SKIP: pretrained models not found (run scripts/fetch-models.sh)"; exit 77; }
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/setup.sh installs it)"; exit 77; }
    done
    T=$(mktemp -d)
    trap 'rm -rf "$T"' EXIT
    # the user's caches are not the tests' to fill (or to find warm)
    export EARSHOT_CACHE="$T/cache" EARSHOT_SYNTH_CACHE="$T/synth"
}
