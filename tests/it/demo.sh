#!/usr/bin/env bash
# The README's first command works: workflows/demo.sh mounts a local bucket
# with the csv-ingest workflow, a dropped file runs, its history shows.
set -eu
cd "$(dirname "$0")/../.."
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }
dir=$(mktemp -d)
trap 'fusermount3 -u "$dir/mnt" 2>/dev/null || true; rm -rf "$dir"' EXIT
out=$(STEPFS_DEMO_DIR=$dir STEPFS_DEMO_EXIT=1 workflows/demo.sh 2>&1)
fail=0
for want in "SUCCEEDED" "FAILED" "ExecutionSucceeded" "TaskFailed" \
	"incoming/fruit.csv ingested: 3 rows, 2 columns" "./quarantine/bad.csv"; do
	grep -qF "$want" <<<"$out" || { echo "demo output lacks '$want'"; fail=1; }
done
[ -s "$dir/failed.svg" ] || [ -s "$dir/failed.dot" ] || { echo "no graph written"; fail=1; }
# the failed state (Rejected) is drawn red from the journaled history
grep -q "ef9a9a" "$dir"/failed.* || { echo "graph does not mark the failed state"; fail=1; }
[ $fail = 0 ] || { printf '%s\n' "$out" | tail -40; exit 1; }
echo "demo ok"
