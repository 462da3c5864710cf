#!/usr/bin/env bash
# tests/fuzz/run.sh FUZZER...: run each libFuzzer binary (built by `make fuzz`)
# for FUZZ_SECONDS, one after the other (the machine has 2 cores), each on its
# own corpus build/fuzz/corpus/NAME, seeded on first use from the conformance
# definitions (whole definitions for fuzz_definition, the paths and intrinsic
# calls found in them for fuzz_jpath and fuzz_intrinsic, the JSONata expressions
# and the JSONata suite for fuzz_jsonata). Crashes, leaks and
# timeouts land in build/fuzz/artifacts/NAME/. tests/fuzz/NAME.dict, if present,
# is passed as the libFuzzer dictionary. Prints one summary line per
# target (seconds, executions, findings) and exits 1 if anything was found.
set -uo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
conf=${STEPFS_CONFORMANCE_DIR:-}
for c in "$conf" ../shared/conformance ../../shared/conformance; do
	[ -n "$c" ] && [ -f "$c/asl-aws-recorded.jsonl" ] && { conf=$c; break; }
done
rows=$conf/asl-aws-recorded.jsonl

seed() { # name dir
	[ -f "$rows" ] || { echo "fuzz: no conformance file, $1 starts from an empty corpus" >&2; return; }
	python3 - "$1" "$2" "$rows" <<'PY'
import glob, json, os, sys
name, out, rows = sys.argv[1:4]
seeds = set()
def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from strings(x)
defs = []
for line in open(rows):
    row = json.loads(line)
    defs.append((row["definition"], row.get("input") or "{}"))
for f in glob.glob("tests/asl/*/definition.json") + glob.glob("workflows/*/*.asl.json"):
    try:
        defs.append((json.load(open(f)), "{}"))
    except ValueError:
        pass
for d, inp in defs:
    if name == "fuzz_jpath":
        # a path, a newline, the execution input the path ran against
        for s in strings(d):
            if s.startswith("$"):
                seeds.add(s + "\n" + inp)
    elif name == "fuzz_jsonata":
        # the {% expressions %} of JSONata definitions
        for s in strings(d):
            if s.startswith("{%") and s.endswith("%}"):
                seeds.add(s[2:-2].strip() + "\n" + inp)
    elif name == "fuzz_intrinsic":
        for s in strings(d):
            if s.startswith("States."):
                seeds.add(s)
    else:
        seeds.add(json.dumps(d, separators=(",", ":")))
if name == "fuzz_jsonata":
    # and the JSONata test suite's expressions with their data
    for f in glob.glob(os.path.join(os.path.dirname(rows), "jsonata/groups/*/case*.json")):
        try:
            cases = json.load(open(f))
        except ValueError:
            continue
        for c in cases if isinstance(cases, list) else [cases]:
            if isinstance(c.get("expr"), str):
                seeds.add(c["expr"] + "\n" + json.dumps(c.get("data")))
for i, s in enumerate(sorted(seeds)):
    open("%s/seed-%d" % (out, i), "w", errors="surrogatepass").write(s)
PY
}

status=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=build/fuzz/corpus/$name
	art=build/fuzz/artifacts/$name
	log=build/fuzz/$name.log
	mkdir -p "$corpus" "$art"
	[ -n "$(ls -A "$corpus")" ] || seed "$name" "$corpus"
	before=$(ls "$art" | wc -l)
	echo "fuzz: $name for ${FUZZ_SECONDS}s, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
	dict=()
	[ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048 -max_len=16384 \
		"${dict[@]}" -print_final_stats=1 -artifact_prefix="$art/" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n1)
	after=$(ls "$art" | wc -l)
	found=$((after - before))
	if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
		status=1
		echo "fuzz: $name: FINDING (exit $rc, $found new artifacts in $art); log $log"
		grep -E 'ERROR: |SUMMARY: |Test unit written' "$log" | head -n 20
	fi
	echo "fuzz: $name: ${FUZZ_SECONDS}s, ${execs:-?} executions, $found findings"
done
exit $status
