#!/usr/bin/env bash
# tests/bench/engine.sh: the engine benchmark, stepfs side by side with
# aws-local-stepfunctions 3.0.0 in one run, on the three workloads of
# tests/bench/workloads.json:
#   loop  Pass(States.MathAdd) + Choice loop, N rounds     -> transitions/s
#   map   inline Map over N items (MaxConcurrency 0)       -> iterations/s
#   exec  N sequential one-Pass executions                 -> executions/s
# Each side runs in its own process, RUNS times, alternating; each process
# warms up once, then repeats the workload for at least MIN_SECONDS. Prints
# every run, the medians and the ratios, and the machine it ran on.
# Not part of `make check`: run `make bench`.
#
# Environment: RUNS (5), MIN_SECONDS (1), N_LOOP (20000), N_MAP (20000),
# N_EXEC (20000), O (build dir), ALSF_DIR (the aws-local-stepfunctions package).
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build/default}
RUNS=${RUNS:-5}
MIN_SECONDS=${MIN_SECONDS:-1}
ALSF_DIR=${ALSF_DIR:-build/npm/node_modules/aws-local-stepfunctions}
bench=$O/tests/bench/bench_engine
workloads=tests/bench/workloads.json

[ -x "$bench" ] || { echo "engine.sh: $bench missing: run 'make bench'" >&2; exit 1; }
if [ ! -f "$ALSF_DIR/build/main.node.esm.js" ]; then
	tests/deps.sh >&2 || true
fi
[ -f "$ALSF_DIR/build/main.node.esm.js" ] ||
	{ echo "engine.sh: aws-local-stepfunctions not found in $ALSF_DIR (tests/deps.sh installs it)" >&2; exit 1; }
ALSF_DIR=$(cd "$ALSF_DIR" && pwd)

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate() { sed -E 's/.*"rate":([0-9.eE+-]+).*/\1/'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr)"
echo "node $(node --version), aws-local-stepfunctions $(sed -nE 's/.*"version": "([^"]+)".*/\1/p' "$ALSF_DIR/package.json" | head -n1), $RUNS runs of >= ${MIN_SECONDS}s each"
echo
summary=()
for w in loop map exec; do
	case $w in
	loop) n=${N_LOOP:-20000} unit="transitions/s" ;;
	map) n=${N_MAP:-20000} unit="iterations/s" ;;
	exec) n=${N_EXEC:-20000} unit="executions/s" ;;
	esac
	ours=() theirs=()
	for ((i = 1; i <= RUNS; i++)); do
		r=$("$bench" "$workloads" "$w" "$n" "$MIN_SECONDS" | rate)
		ours+=("$r")
		r=$(node tests/bench/engine_alsf.mjs "$ALSF_DIR" "$workloads" "$w" "$n" "$MIN_SECONDS" | rate)
		theirs+=("$r")
	done
	mo=$(printf '%s\n' "${ours[@]}" | median)
	mt=$(printf '%s\n' "${theirs[@]}" | median)
	printf '%-5s N=%-6s stepfs runs: %s\n' "$w" "$n" "$(printf '%.0f ' "${ours[@]}")"
	printf '%-5s N=%-6s alsf   runs: %s\n' "$w" "$n" "$(printf '%.0f ' "${theirs[@]}")"
	summary+=("$(awk -v w="$w" -v u="$unit" -v a="$mo" -v b="$mt" \
		'BEGIN { printf "%-5s %-14s %14.0f %14.0f %8.1fx", w, u, a, b, a / b }')")
done
echo
printf '%-5s %-14s %14s %14s %9s\n' workload unit "stepfs median" "alsf median" ratio
printf '%s\n' "${summary[@]}"
