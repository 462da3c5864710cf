#!/usr/bin/env bash
# tests/bench/tasks.sh: the task-runner benchmark. Launches per second of a
# minimal JSON echo program (tests/helper_task echo), one at a time, through
# the task runner and through the ASL engine, against a raw posix_spawn+wait
# loop of the same program in the same run; and the worker form's tasks/s.
# Modes (tests/bench/tasks_bench.c): raw (posix_spawn+waitpid, stdio on
# /dev/null), rawio (the same with stdin/stdout pipes, input written, output
# read), runner, engine (one-Task Express executions), worker (one
# long-lived instance). Modes alternate within each of RUNS rounds, so load
# from other processes hits all of them alike. Prints every run, the medians,
# the ratios against the targets (runner/raw >= 0.8, worker/runner >= 20) and
# the machine. Not part of `make check`.
#
# Environment: RUNS (5), MIN_SECONDS (1), O (build dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build/default}
RUNS=${RUNS:-5}
MIN_SECONDS=${MIN_SECONDS:-1}
bench=$O/tests/bench/tasks_bench
helper=$O/tests/helper_task
make -s "$bench" "$helper" >&2

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate() { sed -E 's/.*"rate":([0-9.eE+-]+).*/\1/'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "program: $helper echo; $RUNS rounds of >= ${MIN_SECONDS}s per mode"
modes="raw rawio runner engine worker"
declare -A rates
for m in $modes; do rates[$m]=""; done
for ((r = 1; r <= RUNS; r++)); do
	line="round $r:"
	for m in $modes; do
		out=$("$bench" "$m" "$helper" "$MIN_SECONDS")
		v=$(rate <<<"$out")
		rates[$m]="${rates[$m]} $v"
		line="$line $m=$v/s"
	done
	echo "$line"
done
declare -A med
echo
for m in $modes; do
	med[$m]=$(tr ' ' '\n' <<<"${rates[$m]}" | grep . | median)
	printf 'median %-7s %10.1f launches/s\n' "$m" "${med[$m]}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN { print (x >= t ? "ok" : "BELOW TARGET") }'; }
r1=$(ratio "${med[runner]}" "${med[raw]}")
r2=$(ratio "${med[runner]}" "${med[rawio]}")
r3=$(ratio "${med[engine]}" "${med[raw]}")
r4=$(ratio "${med[worker]}" "${med[runner]}")
echo "ratio runner/raw    = $r1  (target >= 0.8: $(verdict "$r1" 0.8))"
echo "ratio runner/rawio  = $r2"
echo "ratio engine/raw    = $r3  (target >= 0.8: $(verdict "$r3" 0.8))"
echo "ratio worker/runner = $r4  (target >= 20: $(verdict "$r4" 20))"
