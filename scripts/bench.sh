#!/bin/bash
# Benchmark earshot against the reference runtime (onnxruntime-node) in one
# run on this machine: same inputs, same thread count, reported as ratios.
#
#   scripts/bench.sh [--threads 1,2] [--quick] [--rounds N] [--models DIR] [--json FILE]
#                    [--no-setup] [--no-memory]
#
#   --threads LIST  thread counts to compare (default 1,2)
#   --quick         fewer repetitions and one round (faster, noisier)
#   --rounds N      alternate earshot and the reference N times, keep each
#                   case's best median (default 2; 1 with --quick)
#   --models DIR    pretrained models (default: $EARSHOT_MODELS, else
#                   ${XDG_CACHE_HOME:-$HOME/.cache}/earshot/models)
#   --json FILE     also write every measurement as JSON
#   --no-setup      do not run scripts/setup.sh; only rebuild (ninja -C build)
#   --no-memory     skip (e), the peak-memory runs of earshot detect
#   --listen        instead: the live-path benchmark, bench/listen.sh (CPU and
#                   latency of earshot listen over 10 minutes of a paced
#                   virtual microphone; about 11 minutes of wall time)
#   --transcribe    instead: earshot transcribe over 1 h of long-form audio
#                   (bench/transcribe.sh: x real time, memory, event F1)
#   --synth         only the synthetic-data benchmark (bench/synth.sh: 1,000
#                   takes synthesised and embedded; no reference needed)
#   --accuracy      instead: every accuracy target of issues 3, 5 and 6 on
#                   FSDD, PASS or MISS (bench/accuracy.sh: about 5 minutes
#                   with warm caches, 15 the first time)
#
# By default it first runs scripts/setup.sh --with-reference (idempotent: it
# only checks and rebuilds when everything is there), which installs the
# reference runtime into ${EARSHOT_REF_DIR:-<repo>/.cache/ref}. See
# bench/README.md for what each line measures.
set -euo pipefail

usage() { echo "usage: $0 [--threads 1,2] [--quick] [--rounds N] [--models DIR] [--json FILE] [--no-setup] [--no-memory] [--listen | --transcribe | --synth | --accuracy]"; }
models=""
setup=1
listen=0
mode=""   # --listen / --transcribe / --synth: another benchmark instead
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=(--threads "$2"); shift 2 ;;
    --threads=*) args+=(--threads "${1#--threads=}"); shift ;;
    --quick) args+=(--quick); shift ;;
    --rounds) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=(--rounds "$2"); shift 2 ;;
    --rounds=*) args+=(--rounds "${1#--rounds=}"); shift ;;
    --models) [ $# -ge 2 ] || { usage >&2; exit 2; }; models="$2"; shift 2 ;;
    --models=*) models="${1#--models=}"; shift ;;
    --json) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=(--json "$(realpath -m -- "$2")"); shift 2 ;;
    --json=*) args+=(--json "$(realpath -m -- "${1#--json=}")"); shift ;;
    --no-setup) setup=0; shift ;;
    --no-memory) args+=(--no-memory); shift ;;
    --listen) mode=listen; listen=1; shift ;;
    --transcribe) mode=transcribe; shift ;;
    --synth) mode=synth; shift ;;
    --accuracy) mode=accuracy; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "earshot bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# --listen, --transcribe, --synth and --accuracy run their own benchmark, which takes
# none of the encoder benchmark's options: refused, not silently dropped
# (--jobs 1 and --models DIR once vanished after --transcribe)
if [ -n "$mode" ] && [ ${#args[@]} -gt 0 ]; then
  echo "earshot bench: --$mode takes none of: ${args[*]}" >&2; usage >&2; exit 2
fi

# Resolve the models and the reference runtime the way setup.sh, the tests
# and the library do, relative to the caller's directory.
. "$(dirname -- "$0")/paths.sh"
es_resolve_paths "$models"

if [ $setup -eq 1 ]; then
  bash scripts/setup.sh --with-reference --models "$EARSHOT_MODELS" ||
    { echo "earshot bench: set-up failed (see above)" >&2; exit 1; }
else
  [ -f build/build.ninja ] ||
    { echo "earshot bench: build/ is not configured: run scripts/setup.sh --with-reference" >&2; exit 1; }
  ninja -C build --quiet || { echo "earshot bench: build failed (see above)" >&2; exit 1; }
fi

export EARSHOT_MODELS   # the chosen --models, for the benchmarks below
case "$mode" in
  listen) exec bash bench/listen.sh --build "$root/build" ;;
  transcribe) exec bash bench/transcribe.sh ;;
  synth) exec bash bench/synth.sh ;;
  accuracy) exec bash bench/accuracy.sh ;;
esac
command -v node >/dev/null 2>&1 || { echo "earshot bench: node not found: run scripts/setup.sh" >&2; exit 1; }
exec node bench/bench.js --build "$root/build" --models "$EARSHOT_MODELS" "${args[@]}"
