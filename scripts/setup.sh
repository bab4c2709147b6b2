#!/bin/bash
# Set up everything earshot needs on Debian 12, then build it.
#
#   scripts/setup.sh [--models DIR] [--with-reference] [--ci]
#
#   1. installs the Debian packages that are missing (apt-get; nothing to do
#      and no `apt-get update` when all are installed);
#   2. fetches and verifies the pretrained models (scripts/fetch-models.sh);
#   3. with --with-reference (what scripts/test.sh asks for), installs the
#      reference runtime (onnxruntime-node@1.30.0) into
#      ${EARSHOT_REF_DIR:-<repo>/.cache/ref}, python3-numpy for one test
#      and locales for another;
#   4. configures (first time) and builds with meson + ninja in build/
#      (release build; --ci adds -Dwerror_ci=true).
#
# Idempotent: a second run only checks and rebuilds what changed.
set -euo pipefail

ORT_VERSION="1.30.0"
# libc6-dev: gcc only recommends it, and without it nothing links (found on
# a fresh debootstrap'd Debian 12).
# g++: the tests check that earshot.h compiles as C++ (tests/test_examples.sh).
DEB_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libsndfile1-dev libsamplerate0-dev
  libkissfft-dev libopenblas-dev portaudio19-dev libcjson-dev libcmocka-dev
  espeak-ng sox flite time ca-certificates libespeak-ng-dev flite1-dev g++
  python3)
# (python3: some tests edit binary files with it; meson pulls it in too, but
# a test's tool should not rest on another package's dependency)

say() { printf 'earshot setup: %s\n' "$*"; }
die() { printf 'earshot setup: error: %s\n' "$*" >&2; exit 1; }
usage() {
  cat <<EOF
usage: $0 [--models DIR] [--with-reference] [--ci]

  --models DIR       cache the pretrained models in DIR (default: \$EARSHOT_MODELS,
                     else \${XDG_CACHE_HOME:-\$HOME/.cache}/earshot/models)
  --with-reference   also install the reference runtime onnxruntime-node@$ORT_VERSION
                     into \${EARSHOT_REF_DIR:-<repo>/.cache/ref} (for parity tests)
  --ci               build with -Dwerror_ci=true (warnings are errors)
EOF
}

models=""
with_ref=0
ci=0
while [ $# -gt 0 ]; do
  case "$1" in
    --models) [ $# -ge 2 ] || { usage >&2; exit 2; }; models="$2"; shift 2 ;;
    --models=*) models="${1#--models=}"; shift ;;
    --with-reference) with_ref=1; shift ;;
    --ci) ci=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'earshot setup: unknown argument: %s\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done

# Paths given relative to the caller's directory stay relative to it.
[ -z "$models" ] || models="$(realpath -m -- "$models")"
[ -z "${EARSHOT_MODELS:-}" ] || export EARSHOT_MODELS="$(realpath -m -- "$EARSHOT_MODELS")"
[ -z "${EARSHOT_REF_DIR:-}" ] || export EARSHOT_REF_DIR="$(realpath -m -- "$EARSHOT_REF_DIR")"

cd "$(dirname -- "$0")/.."
root="$(pwd -P)"

# ------------------------------------------------------------ Debian packages
wanted=("${DEB_PACKAGES[@]}")
# Use the node/npm on PATH when there is one (it may come from outside Debian,
# and Debian's npm would conflict with it); otherwise install Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  wanted+=(nodejs npm)
fi
# The test suite's set-up (--with-reference) also wants numpy, for one
# check: that numpy.load reads every embedding-cache entry, checksum
# trailer and all (tests/test_train.sh). Without it that check is skipped
# on a fresh machine, so the suite's own set-up installs it.
# And locales: tests/test_locale.c runs the library under a locale with a
# decimal comma (and under tr_TR), which it compiles with localedef from
# the definitions this package ships (a minimal Debian has only C, C.UTF-8
# and POSIX, and no definitions to make others from); without it that test
# is skipped.
if [ "$with_ref" = 1 ]; then wanted+=(python3-numpy locales); fi
missing=()
for p in "${wanted[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: this script expects Debian 12; install these packages by hand: ${missing[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      die "installing packages needs root: run this script as root, or install: ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp "${TMPDIR:-/tmp}/earshot-apt.XXXXXX")"
  if ! "${sudo[@]}" apt-get update -q >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get update failed (above: the end of $log); check network access to the Debian mirrors"
  fi
  if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get install failed for: ${missing[*]} (above: the end of $log)"
  fi
  rm -f "$log"
else
  say "Debian packages: all ${#wanted[@]} installed"
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  die "node and npm are still not on PATH after installing nodejs and npm"

# -------------------------------------------------------------------- models
if [ -n "$models" ]; then
  bash scripts/fetch-models.sh --models "$models"
else
  bash scripts/fetch-models.sh
fi

# --------------------------------------------------------- reference runtime
if [ $with_ref -eq 1 ]; then
  ref="${EARSHOT_REF_DIR:-$root/.cache/ref}"
  pj="$ref/node_modules/onnxruntime-node/package.json"
  have="$( [ -f "$pj" ] && node -e 'process.stdout.write(String(require(process.argv[1]).version))' "$pj" 2>/dev/null || true)"
  if [ "$have" = "$ORT_VERSION" ]; then
    say "reference runtime: onnxruntime-node@$ORT_VERSION already in $ref"
  else
    say "installing reference runtime onnxruntime-node@$ORT_VERSION into $ref"
    mkdir -p "$ref"
    log="$(mktemp "${TMPDIR:-/tmp}/earshot-npm.XXXXXX")"
    if ! npm install --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
         --no-update-notifier --prefix "$ref" "onnxruntime-node@$ORT_VERSION" >"$log" 2>&1; then
      why="$(sed -n -E 's/^npm (error|ERR!) ?//p' "$log" |
             grep -v -E '^[[:space:]]*$|^(code|errno|syscall) |^[[:space:]]+|^[{}]|A complete log of this run' |
             head -n1 || true)"
      [ -n "$why" ] || why="$(grep -v -E '^[[:space:]]*$' "$log" | tail -n1 || true)"
      rm -f "$log"
      die "could not install onnxruntime-node@$ORT_VERSION from the npm registry: ${why:-npm failed}; check network access to the npm registry"
    fi
    rm -f "$log"
    have="$(node -e 'process.stdout.write(String(require(process.argv[1]).version))' "$pj" 2>/dev/null || true)"
    [ "$have" = "$ORT_VERSION" ] ||
      die "npm finished but $pj does not say version $ORT_VERSION (got '${have:-nothing}')"
  fi
fi

# --------------------------------------------------------------------- build
if [ -f build/meson-private/coredata.dat ]; then
  if [ $ci -eq 1 ]; then
    cur="$(node -e '
      const o = require(process.argv[1]).find(o => o.name === "werror_ci");
      process.stdout.write(o ? String(o.value) : "");' "$root/build/meson-info/intro-buildoptions.json" 2>/dev/null || true)"
    if [ "$cur" != "true" ]; then
      say "configuring build/ with -Dwerror_ci=true"
      log="$(mktemp "${TMPDIR:-/tmp}/earshot-meson.XXXXXX")"
      # meson configure records the option; regenerating build.ninja here
      # keeps meson's long output out of the build step.
      if ! { meson configure build -Dwerror_ci=true && ninja -C build build.ninja; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        die "meson could not reconfigure build/ with -Dwerror_ci=true (see above)"
      fi
      rm -f "$log"
    fi
  fi
else
  opts=(--buildtype=release)
  [ $ci -eq 0 ] || opts+=(-Dwerror_ci=true)
  say "configuring build/ (meson setup build ${opts[*]})"
  log="$(mktemp "${TMPDIR:-/tmp}/earshot-meson.XXXXXX")"
  if ! meson setup build "${opts[@]}" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "meson setup failed (see above; the full log is build/meson-logs/meson-log.txt)"
  fi
  rm -f "$log"
fi
say "building (ninja -C build)"
# --quiet: no progress lines, only what the compiler says.
ninja -C build --quiet | { grep -v -x 'ninja: no work to do\.' || true; } ||
  die "build failed (see the errors above)"
say "done"
