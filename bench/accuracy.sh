#!/bin/bash
# Every accuracy target of issues 3, 5 and 6, measured in one run on the
# Free Spoken Digit Dataset and set against its target: one table, each
# row PASS or MISS, and the command that measured it. It runs the
# protocols the README and bench/README.md describe, unchanged:
#
#   issue 3  earshot train --learning-curve (5 speaker splits x 3 seeds,
#            3 speakers train, 3 unseen test): 1, 5 and all clips per
#            digit; and the pretrained encoder against the from-scratch
#            baseline at 5 clips (--shots-list 5, the slow part: about
#            4 minutes; --no-scratch leaves it out);
#   issue 5  build/bench/es_adapt_bench (each speaker held out in turn,
#            adapted with 3 takes per digit, ewc+rehearsal, 3 draws):
#            target-speaker mean and worst speaker, retention change; and
#            build/bench/es_speaker_bench (6 speakers enrolled from k takes,
#            10 draws): identification at k = 5, EER at k = 5 and 10;
#   issue 6  bench/synth_accuracy.sh --mixed (seeds 1 and 2): a digit model
#            from text alone on all 3,000 clips, and text plus 1 recording
#            per digit of 3 speakers on the other 3.
#
#   bench/accuracy.sh [--fsdd DIR] [--build DIR] [--no-scratch] [--keep DIR]
#
# The embedding and synthesis caches are the usual ones ($EARSHOT_CACHE,
# $EARSHOT_SYNTH_CACHE): the first run embeds and synthesises everything
# (about 15 minutes on 2 cores), a repeat takes about 8. Each protocol's
# own output is kept in --keep DIR (default: a temporary folder, removed).
# Exit status 0 when every row was measured, whatever it says: a MISS is a
# result, not a failure of the benchmark.
set -euo pipefail
usage() { echo "usage: $0 [--fsdd DIR] [--build DIR] [--no-scratch] [--keep DIR]"; }
build=build
fsdd=
scratch=1
keep=
while [ $# -gt 0 ]; do
  case "$1" in
    --fsdd) [ $# -ge 2 ] || { usage >&2; exit 2; }; fsdd="$2"; shift 2 ;;
    --build) [ $# -ge 2 ] || { usage >&2; exit 2; }; build="$2"; shift 2 ;;
    --no-scratch) scratch=0; shift ;;
    --keep) [ $# -ge 2 ] || { usage >&2; exit 2; }; keep="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/accuracy.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -z "$keep" ] || keep="$(mkdir -p -- "$keep" && cd -- "$keep" && pwd)"
cd "$(dirname -- "$0")/.."
build="$(cd -- "$build" 2>/dev/null && pwd)" || { echo "bench/accuracy.sh: no build folder $build (run scripts/setup.sh)" >&2; exit 1; }
bin="$build/earshot"
for b in "$bin" "$build/bench/es_adapt_bench" "$build/bench/es_speaker_bench"; do
  [ -x "$b" ] || { echo "bench/accuracy.sh: $b not built (run scripts/setup.sh)" >&2; exit 1; }
done
fsdd="${fsdd:-$PWD/../shared/data/fsdd}"
[ -f "$fsdd/0_george_0.wav" ] || { echo "bench/accuracy.sh: FSDD not found at $fsdd (../shared/data/README.md)" >&2; exit 1; }
fsdd="$(cd -- "$fsdd" && pwd)"
if [ -n "$keep" ]; then out="$keep"; else out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
pat='{label}_{speaker}_{take}'
words="0=zero,1=one,2=two,3=three,4=four,5=five,6=six,7=seven,8=eight,9=nine"

rows=()    # "issue|what|target|measured|verdict|command"
# row ISSUE WHAT OP TARGET MEASURED COMMAND: OP is >= or <= (or "" for a
# figure with no target); an empty MEASURED is a protocol whose output did
# not hold the figure, and stops the run
row() {
  [ -n "$5" ] || { echo "bench/accuracy.sh: no figure for \"$2\" in the output of: $6 (see $out)" >&2; exit 1; }
  local v=report
  if [ -n "$3" ]; then
    v=$(awk -v m="$5" -v t="$4" -v op="$3" 'BEGIN { ok = op == ">=" ? m + 0 >= t + 0 : m + 0 <= t + 0; print ok ? "PASS" : "MISS" }')
  fi
  rows+=("$1|$2|${3:+$3 }$4|$5|$v|$6")
}
step() { printf 'bench/accuracy.sh: %s\n' "$*" >&2; }
t0=$SECONDS

# ---- issue 3: the learning curve (text table: "shots  mean +- std (n=15)  scratch")
cmd="earshot train --learning-curve --pattern '$pat' FSDD --no-scratch"
step "issue 3: $cmd"
"$bin" train --learning-curve --pattern "$pat" "$fsdd" --no-scratch >"$out/curve.txt" 2>"$out/curve.err"
cur() { awk -v s="$1" '$1 == s && $3 == "+-" { print $2; exit }' "$out/curve.txt"; }
row 3 "1 clip per digit, 3 unseen speakers" ">=" 0.88 "$(cur 1)" "$cmd"
row 3 "5 clips per digit" ">=" 0.96 "$(cur 5)" "$cmd"
row 3 "all clips (150 per digit)" ">=" 0.98 "$(cur all)" "$cmd"
if [ $scratch = 1 ]; then
  cmd="earshot train --learning-curve --pattern '$pat' FSDD --shots-list 5"
  step "issue 3: $cmd (the from-scratch baseline: about 4 minutes)"
  "$bin" train --learning-curve --pattern "$pat" "$fsdd" --shots-list 5 >"$out/scratch.txt" 2>"$out/scratch.err"
  gain=$(awk '$1 == "5" && $3 == "+-" && $7 == "+-" { printf "%.3f", $2 - $6; exit }' "$out/scratch.txt")
  sc=$(awk '$1 == "5" && $3 == "+-" && $7 == "+-" { print $6; exit }' "$out/scratch.txt")
  row 3 "from scratch, 5 clips per digit" "" "" "$sc" "$cmd"
  row 3 "pretrained minus from scratch, 5 clips" ">=" 0.20 "$gain" "$cmd"
fi

# ---- issue 5: adaptation ("| 3 | ewc+rehearsal | mean | worst | change |" in the summary)
cmd="build/bench/es_adapt_bench FSDD --draws 3 --ks 3 --methods ewc+rehearsal --words '0=zero,...,9=nine'"
step "issue 5: $cmd"
"$build/bench/es_adapt_bench" "$fsdd" --draws 3 --ks 3 --methods ewc+rehearsal --words "$words" >"$out/adapt.txt" 2>"$out/adapt.err"
ad() { awk -F'|' -v c="$1" '/^summary over/ { s = 1 } s && $2 ~ /^ *3 *$/ && $3 ~ /ewc\+rehearsal/ { gsub(/ /, "", $c); print $c; exit }' "$out/adapt.txt"; }
base=$(awk -F'|' '/^summary over/ { s = 1 } s && $3 ~ /\(base\)/ { gsub(/ /, "", $4); gsub(/ /, "", $5); print $4 " / " $5; exit }' "$out/adapt.txt")
row 5 "before adapting: target mean / worst speaker" "" "" "$base" "$cmd"
row 5 "adapted, 3 takes per digit: target mean" ">=" 0.99 "$(ad 4)" "$cmd"
row 5 "... worst speaker" ">=" 0.97 "$(ad 5)" "$cmd"
row 5 "... retention change (points)" ">=" -0.5 "$(ad 6)" "$cmd"
cmd="build/bench/es_speaker_bench FSDD FEATS.npy --draws 10"
step "issue 5: $cmd"
"$build/bench/es_speaker_bench" "$fsdd" "$out/speaker-feats.npy" --draws 10 >"$out/speaker.txt" 2>"$out/speaker.err"
spk() { awk -F'|' -v k="$1" -v c="$2" '$2 ~ "^ *" k " *$" { split($c, a, " "); print a[1]; exit }' "$out/speaker.txt"; }
row 5 "speaker identification, 6 speakers, 5 takes enrolled" ">=" 0.95 "$(spk 5 3)" "$cmd"
row 5 "verification EER, closed set, 5 takes" "" "" "$(spk 5 5)" "$cmd"
row 5 "verification EER, closed set, 10 takes" "" "" "$(spk 10 5)" "$cmd"

# ---- issue 6: text alone, and text plus 1 recording per digit
cmd="bench/synth_accuracy.sh --seeds '1 2' --mixed"
step "issue 6: $cmd"
bash bench/synth_accuracy.sh --seeds "1 2" --mixed --fsdd "$fsdd" --build "$build" >"$out/synth.txt" 2>"$out/synth.err"
txt() { awk -v s="$1" '$1 == s && $2 == "text-only" { print $3; exit }' "$out/synth.txt"; }
mix() { awk -v s="$1" '$1 == s && $2 == "mixed" { print $NF; exit }' "$out/synth.txt"; }
row 6 "text only, all 6 speakers, seed 1" ">=" 0.97 "$(txt 1)" "$cmd"
row 6 "text only, seed 2" ">=" 0.97 "$(txt 2)" "$cmd"
row 6 "text + 1 recording per digit, unseen speakers, seed 1" ">=" 0.98 "$(mix 1)" "$cmd"
row 6 "text + 1 recording, seed 2" ">=" 0.98 "$(mix 2)" "$cmd"

# ---- the table
printf '\n| issue | what (FSDD, speakers held out) | target | measured | |\n|---|---|---|---|---|\n'
met=0; total=0
for r in "${rows[@]}"; do
  IFS='|' read -r i w t m v c <<<"$r"
  printf '| %s | %s | %s | %s | %s |\n' "$i" "$w" "${t:--}" "$m" "$v"
  case "$v" in PASS) met=$((met + 1)); total=$((total + 1)) ;; MISS) total=$((total + 1)) ;; esac
done
printf '\ncommands (FSDD = %s):\n' "$fsdd"
printf '%s\n' "${rows[@]}" | cut -d'|' -f1,6 | sort -u -t'|' -k2,2 | sort -n | awk -F'|' '{ printf "  issue %s: %s\n", $1, $2 }'
printf '\n%d of %d targets met, in %d s%s\n' "$met" "$total" $((SECONDS - t0)) "${keep:+ (outputs in $keep)}"
