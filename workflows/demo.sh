#!/usr/bin/env bash
# workflows/demo.sh (run by `make demo`): stepfs on its embedded default.
# Builds stepfs, mounts a local-directory bucket with the csv-ingest example
# workflow, drops a good and a bad CSV file into the mount, and shows the
# executions they started, the history of one, and its graph. Then it keeps
# the mount running so you can drop more files, until Ctrl-C
# (STEPFS_DEMO_EXIT=1: stop right away).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPFS_DEPS_MIN=1 tests/deps.sh
make -s -j"$(nproc)" all
bin=$PWD/build/default/stepfs
demo=${STEPFS_DEMO_DIR:-/tmp/stepfs-demo}
bucket=$demo/bucket mnt=$demo/mnt
fusermount3 -u "$mnt" 2>/dev/null || true
rm -rf "$demo"
mkdir -p "$bucket" "$mnt"

# the example's configuration, with its journal and database in the demo dir
jq --arg defn "$PWD/workflows/csv-ingest/csv-ingest.asl.json" --arg demo "$demo" '
	.StateMachines["csv-ingest"].Definition = $defn | .Journal = "\($demo)/journal.db" |
	.tasks.env.INGEST_DB = "\($demo)/ingest.db"' workflows/csv-ingest/stepfs.json > "$demo/stepfs.json"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "mounting the local bucket $bucket on $mnt (rules: incoming/*.csv -> csv-ingest)"
"$bin" mount "$bucket" "$mnt" -o "config=$demo/stepfs.json,spool=$demo/spool,log=$demo/stepfs.log"
trap 'fusermount3 -u "$mnt" 2>/dev/null || true' EXIT

say "dropping two files: a good CSV and a bad one"
mkdir -p "$mnt/incoming"
printf 'name,qty\napple,3\npear,5\nplum,7\n' > "$mnt/incoming/fruit.csv"
printf 'name,qty\nbroken line\n' > "$mnt/incoming/bad.csv"
echo "wrote incoming/fruit.csv and incoming/bad.csv; close() returned once each was in the bucket"

ended() { "$bin" executions list --journal "$demo/journal.db" --json |
	jq '[.executions[] | select(.status != "RUNNING")] | length'; }
for i in $(seq 1 300); do [ "$(ended)" -ge 2 ] && break; sleep 0.1; done

say "stepfs executions list"
"$bin" executions list --journal "$demo/journal.db"
ok=$("$bin" executions list --journal "$demo/journal.db" --status-filter SUCCEEDED --json |
	jq -r '.executions[0].name')
say "stepfs executions history $ok"
"$bin" executions history "$ok" --journal "$demo/journal.db"
say "what the workflow produced (in the bucket, seen through the mount)"
(cd "$mnt" && find . -type f | sort)
echo; cat "$mnt/outbox/fruit.csv.msg"
say "the graph of the failed execution: $demo/failed.svg"
bad=$("$bin" executions list --journal "$demo/journal.db" --status-filter FAILED --json |
	jq -r '.executions[0].name')
"$bin" graph workflows/csv-ingest/csv-ingest.asl.json --execution "$bad" --journal "$demo/journal.db" \
	-o "$demo/failed.svg" 2>/dev/null || "$bin" graph workflows/csv-ingest/csv-ingest.asl.json \
	--execution "$bad" --journal "$demo/journal.db" -o "$demo/failed.dot"
ls -l "$demo"/failed.*

if [ "${STEPFS_DEMO_EXIT:-0}" = 1 ]; then
	exit 0
fi
say "the mount stays up: drop CSV files into $mnt/incoming/ and run"
echo "  $bin executions list --journal $demo/journal.db"
echo "Ctrl-C to unmount and stop."
while mountpoint -q "$mnt"; do sleep 1; done
