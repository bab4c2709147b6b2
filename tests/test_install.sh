#!/bin/bash
# libearshot as a C or C++ program gets it from `meson install`: the
# library, the one header and earshot.pc, and nothing else. Needs no
# models, so it runs where test_examples.sh (which also builds the
# examples from an installed copy) skips: the version macros agree with
# the project's version and with es_version(); a C99 program built with
# pkg-config alone under -Wpedantic -Werror links and runs; a C++ program
# links too (the extern "C" guards, which compiling alone does not test);
# and the header defines no macro outside ES_* (and its include guard).
set -u
BUILD=${EARSHOT_BUILD:?run through meson test}
SRC=${EARSHOT_SRC:?run through meson test}
. "$(dirname -- "$0")/lib.sh"
T=$(mktemp -d /tmp/es_install_XXXXXX)
trap 'rm -rf "$T"' EXIT
for c in cc pkg-config; do
    command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/setup.sh installs it)"; exit 77; }
done

if meson install -C "$BUILD" --no-rebuild --destdir "$T/inst" >"$T/install.log" 2>&1; then ok "meson install into a staging folder"
else bad "meson install failed: $(tail -c 400 "$T/install.log")"; echo "install: $pass passed, $fail failed, $skipped skipped"; exit 1; fi
pc=$(find "$T/inst" -name earshot.pc | head -1)
hdr=$(find "$T/inst" -name earshot.h | head -1)
lib=$(find "$T/inst" -name libearshot.a | head -1)
if [ -z "$pc" ] || [ -z "$hdr" ] || [ -z "$lib" ]; then
    bad "install is missing a file: pc='$pc' header='$hdr' lib='$lib'"
    echo "install: $pass passed, $fail failed, $skipped skipped"; exit 1
fi
ok "the library, the header and earshot.pc are installed"
# the .pc names the final prefix; point it at the staging copy
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir "$T/pc" && sed "s|^prefix=.*|prefix=$T/inst$prefix|" "$pc" >"$T/pc/earshot.pc"
export PKG_CONFIG_PATH="$T/pc"
flags=$(pkg-config --cflags --libs earshot)

# --- the version, three ways
pcver=$(pkg-config --modversion earshot)
hver=$(sed -n 's/^#define ES_VERSION "\(.*\)"$/\1/p' "$hdr")
num=$(printf '%s.%s.%s' "$(sed -n 's/^#define ES_VERSION_MAJOR //p' "$hdr")" \
      "$(sed -n 's/^#define ES_VERSION_MINOR //p' "$hdr")" "$(sed -n 's/^#define ES_VERSION_PATCH //p' "$hdr")")
[ -n "$pcver" ] && [ "$pcver" = "$hver" ] && [ "$hver" = "$num" ] &&
    ok "earshot.pc, ES_VERSION and ES_VERSION_MAJOR.MINOR.PATCH all say $pcver" ||
    bad "versions disagree: earshot.pc '$pcver', ES_VERSION '$hver', the numbers '$num'"

# --- a C99 program with nothing but pkg-config's flags
san=()
[ "${EARSHOT_SANITIZE:-none}" = none ] || san=(-fsanitize="$EARSHOT_SANITIZE")
cat >"$T/user.c" <<'C'
#include <earshot.h>
#include <stdio.h>
#include <string.h>

#if !defined(ES_VERSION_MAJOR) || ES_VERSION_MAJOR < 0
#error "no numeric version macros"
#endif

int main(int argc, char **argv)
{
    es_error err = {0};
    es_audio a = {0};
    (void)argc;
    printf("%s %s %d.%d.%d\n", es_version(), ES_VERSION, ES_VERSION_MAJOR, ES_VERSION_MINOR, ES_VERSION_PATCH);
    if (strcmp(es_version(), ES_VERSION) != 0) return 3;
    if (es_audio_load(argv[1], NULL, &a, &err) != ES_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("%zu samples from %d Hz\n", a.n, a.src_rate);
    es_audio_free(&a);
    return es_audio_load("/nonexistent.wav", NULL, &a, NULL) == ES_ERR_IO ? 0 : 4;
}
C
if cc -std=c99 -Wall -Wextra -Wpedantic -Werror "${san[@]}" "$T/user.c" $flags -o "$T/user" 2>"$T/cc.log"; then
    ok "a C99 program builds with pkg-config's flags alone (-Wpedantic -Werror)"
    if "$T/user" "$SRC/samples/alexa.wav" >"$T/out" 2>"$T/err"; then
        has "$T/out" "^$hver $hver $hver$" "es_version() is the header's ES_VERSION"
        has "$T/out" "^[1-9][0-9]* samples from 16000 Hz" "and the installed library decodes a sample"
    else
        bad "the program failed (exit $?): $(head -c 400 "$T/err") $(head -c 200 "$T/out")"
    fi
else
    bad "a C99 program does not build from the installed copy: $(head -c 600 "$T/cc.log")"
fi

# --- C++: compiled and linked, so the extern "C" guards are tested
if command -v c++ >/dev/null; then
    printf '#include <earshot.h>\n#include <cstring>\nint main() { es_error e = es_error(); (void)e;\n  return std::strcmp(es_version(), ES_VERSION) == 0 && es_status_str(ES_ERR_IO) ? 0 : 1; }\n' >"$T/user.cc"
    if c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror "${san[@]}" "$T/user.cc" $flags -o "$T/usercc" 2>"$T/cxx.log"; then
        "$T/usercc" && ok "a C++11 program links against libearshot.a and runs" || bad "the C++ program failed (exit $?)"
    else
        bad "a C++11 program does not build and link: $(head -c 600 "$T/cxx.log")"
    fi
else
    skip "the header from C++" "no C++ compiler (scripts/setup.sh installs g++)"
fi

# --- what earshot.pc hands a user's compile: its own include folder and
# nothing else (no -D, no other library's folder to shadow the user's
# headers: earshot.h includes none of them); and --static, which asked for
# codec libraries Debian does not install for linking, links as well
cflags=$(pkg-config --cflags earshot)
[ "$(echo $cflags)" = "-I$T/inst$prefix/include" ] && ok "pkg-config --cflags earshot is earshot's include folder alone" ||
    bad "pkg-config --cflags earshot gives more than earshot's include folder: $cflags"
if sflags=$(pkg-config --static --cflags --libs earshot 2>"$T/static.log") &&
   cc -std=c99 "${san[@]}" "$T/user.c" $sflags -o "$T/user_static" 2>"$T/static.log" &&
   "$T/user_static" "$SRC/samples/alexa.wav" >/dev/null; then
    ok "a program built with pkg-config --static links and runs"
else
    bad "pkg-config --static: $(head -c 600 "$T/static.log")"
fi

# --- the header's macros: ES_* and its guard only (system headers' aside)
printf '#include <stddef.h>\n#include <stdio.h>\n' | cc -std=c99 -E -dM - | sort >"$T/sys.macros"
printf '#include <earshot.h>\n' | cc -std=c99 -E -dM -I"$(dirname "$hdr")" - | sort >"$T/all.macros"
extra=$(comm -13 "$T/sys.macros" "$T/all.macros" | awk '{print $2}' | sed 's/(.*//' | grep -v -E '^(ES_|EARSHOT_H$)')
[ -z "$extra" ] && ok "earshot.h defines only ES_* macros" || bad "earshot.h leaks macros: $extra"

echo "install: $pass passed, $fail failed, $skipped skipped"
[ $fail = 0 ]
