# Sourced by the entry-point scripts: resolves where the pretrained models
# and the reference runtime live, the same way fetch-models.sh and the
# library (es_models_dir) do, and moves to the repository root.
#
#   es_resolve_paths MODELS_ARG    (empty: $EARSHOT_MODELS, else the XDG cache)
#
# Relative paths are taken from the caller's directory, so it must run
# before any cd. Exports EARSHOT_MODELS and EARSHOT_REF_DIR; sets $root.
es_resolve_paths() {
  local models="$1" home
  if [ -z "$models" ]; then
    home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
    models="${EARSHOT_MODELS:-${XDG_CACHE_HOME:-$home/.cache}/earshot/models}"
  fi
  EARSHOT_MODELS="$(realpath -m -- "$models")"
  [ -z "${EARSHOT_REF_DIR:-}" ] || EARSHOT_REF_DIR="$(realpath -m -- "$EARSHOT_REF_DIR")"
  cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
  root="$(pwd -P)"
  EARSHOT_REF_DIR="${EARSHOT_REF_DIR:-$root/.cache/ref}"
  export EARSHOT_MODELS EARSHOT_REF_DIR
}
