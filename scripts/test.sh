#!/bin/bash
# Set up everything (packages, models, reference runtime, build) and run the
# whole test suite.
#
#   scripts/test.sh [--models DIR] [--ci] [--sanitize | --tsan] [MESON TEST ARGS...]
#
# --ci (implied when $CI is set) builds with warnings as errors. --sanitize
# runs the suite on a second build, build-asan/, with AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer (about 2x slower, so not in
# CI; run it before a release and after touching memory handling). --tsan
# runs tests on build-tsan/ with ThreadSanitizer, any data race failing
# the test: by default test_threads (the header's promises about threads,
# 2-5 minutes), else the tests named; run it after touching anything
# that threads share (the engine, the encoder, the speaker profiles,
# transcribe's or train's workers). Any other arguments go to `meson test`
# (e.g. a test name, or --suite).
# Ends with one line "N passed, N failed, N skipped", counted from
# build/meson-logs/testlog.json; exits non-zero if any test failed or meson
# test itself failed.
set -euo pipefail

models=""
ci=0
sanitize=0
tsan=0
[ -z "${CI:-}" ] || ci=1
meson_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --models) [ $# -ge 2 ] || { echo "usage: $0 [--models DIR] [--ci] [--sanitize] [MESON TEST ARGS...]" >&2; exit 2; }
              models="$2"; shift 2 ;;
    --models=*) models="${1#--models=}"; shift ;;
    --ci) ci=1; shift ;;
    --sanitize) sanitize=1; shift ;;
    --tsan) tsan=1; shift ;;
    -h|--help) echo "usage: $0 [--models DIR] [--ci] [--sanitize | --tsan] [MESON TEST ARGS...]"; exit 0 ;;
    *) meson_args+=("$1"); shift ;;
  esac
done
if [ $sanitize -eq 1 ] && [ $tsan -eq 1 ]; then
  echo "$0: --sanitize and --tsan need separate builds: give one of them" >&2
  exit 2
fi

# Resolve the model directory the way fetch-models.sh and the library do, and
# paths relative to the caller's directory before moving to the repo root.
. "$(dirname -- "$0")/paths.sh"
es_resolve_paths "$models"

bdir=build
setup_args=(--with-reference --models "$EARSHOT_MODELS")
[ $ci -eq 0 ] || setup_args+=(--ci)
if ! bash scripts/setup.sh "${setup_args[@]}"; then
  echo "earshot test: set-up failed (see above); no test was run"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

if [ $sanitize -eq 1 ]; then
  # the same sources, built with the sanitizers; every finding is an error
  # (halt_on_error), and leaks count except inside libvorbis, which
  # fuzz/lsan.supp explains
  bdir=build-asan
  if [ ! -f $bdir/meson-private/coredata.dat ]; then
    echo "earshot test: configuring $bdir/ (address, undefined)"
    meson setup $bdir --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
      { echo "earshot test: meson setup $bdir failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  fi
  ninja -C $bdir --quiet || { echo "earshot test: the sanitizer build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0}"
  # slower: give every test four times its timeout
  meson_args=(-t 4 "${meson_args[@]}")
elif [ $tsan -eq 1 ]; then
  # ThreadSanitizer cannot be mixed with AddressSanitizer: a build of its
  # own. halt_on_error: the first race ends the program with an error.
  # OpenBLAS is not instrumented; earshot keeps it to one thread (the
  # library's own threads split the work), and OPENBLAS_NUM_THREADS=1
  # makes sure its thread pool never starts, whose memory accesses TSan
  # cannot see and would take for races.
  bdir=build-tsan
  if [ ! -f $bdir/meson-private/coredata.dat ]; then
    echo "earshot test: configuring $bdir/ (thread)"
    meson setup $bdir --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false >/dev/null ||
      { echo "earshot test: meson setup $bdir failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  fi
  ninja -C $bdir --quiet || { echo "earshot test: the ThreadSanitizer build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
  export OPENBLAS_NUM_THREADS=1
  [ ${#meson_args[@]} -gt 0 ] || meson_args=(test_threads)
  meson_args=(-t 4 "${meson_args[@]}")
fi
log=$bdir/meson-logs/testlog.json
rm -f "$log"
echo "earshot test: meson test -C $bdir --print-errorlogs${meson_args[*]:+ ${meson_args[*]}}"
status=0
meson test -C $bdir --print-errorlogs "${meson_args[@]}" || status=$?

if [ ! -s "$log" ]; then
  echo "earshot test: meson test exited with status $status and wrote no $log (see above)"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

# One JSON object per line. Print each skipped test with its reason (the last
# line it printed), then the counts as the very last line.
summary="$(node -e '
  const fs = require("fs");
  const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(l => l.trim());
  let passed = 0, failed = 0, skipped = 0;
  const skips = [], partly = [];
  for (const l of lines) {
    let t;
    try { t = JSON.parse(l); } catch (e) { failed++; continue; }
    const r = String(t.result || "").replace(/^TestResult\./, "");
    if (r === "OK" || r === "EXPECTEDFAIL") {
      passed++;
      /* a test that passed with some of its checks skipped (no FSDD, no
       * pty): those lines say so, and the summary repeats them */
      const part = [t.stdout, t.stderr].filter(Boolean).join("\n").split("\n").map(s => s.trim())
        .filter(s => /^SKIP\b|^\[\s*SKIPPED\s*\]|not tested/.test(s));
      for (const s of part) partly.push(`  ${t.name}: ${s}`);
    } else if (r === "SKIP") {
      skipped++;
      const out = [t.stdout, t.stderr].filter(Boolean).join("\n").split("\n")
        .map(s => s.trim()).filter(Boolean);
      skips.push(`  ${t.name}: ${out.length ? out[out.length - 1] : "(no reason printed)"}`);
    } else failed++;
  }
  if (partly.length) console.log("earshot test: passed with parts skipped:\n" + partly.join("\n"));
  if (skips.length) console.log("earshot test: skipped:\n" + skips.join("\n"));
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed ? 1 : 0);
' "$log")" || status=$((status ? status : 1))
last="$(printf '%s\n' "$summary" | tail -n1)"
if ! [[ "$last" =~ ^[0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
  printf '%s\n' "$summary"
  echo "earshot test: could not read $log"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
[ $status -eq 0 ] || [[ "$last" != *" 0 failed,"* ]] ||
  summary="$(printf '%s\n' "$summary" | sed '$d')"$'\n'"earshot test: meson test exited with status $status"$'\n'"$last"
printf '%s\n' "$summary"
exit $status
