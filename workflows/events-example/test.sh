#!/usr/bin/env bash
# workflows/events-example/test.sh: the example configuration loads as
# shipped, and on a real mount (local backend) a CSV dropped into incoming/
# is counted, a delete is audited in the EventBridge shape, and a nightly
# report missed while stopped runs once (MissedRuns RUN_ONCE).
set -e
cd "$(dirname "$0")/../.."
. tests/it/lib.sh
it_need_fuse
it_need_cmd jq sqlite3
src=$IT_TOP/workflows/events-example
mkdir -p "$IT_DIR/bucket" "$IT_DIR/out"
# the shipped file, with the journal and output moved into the test's directory
jq --arg j "$IT_DIR/journal.db" --arg o "$IT_DIR/out" \
	'.Journal = $j | .tasks.env.OUT_DIR = $o' "$src/stepfs.json" >"$src/.test-stepfs.json"
it_defer 'rm -f "$src/.test-stepfs.json"'
# pretend the nightly report last ran two days ago
"$STEPFS_BIN" executions list --config "$src/.test-stepfs.json" >/dev/null 2>&1 || true
sqlite3 "$IT_DIR/journal.db" "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);
	INSERT OR REPLACE INTO meta VALUES('schedule/nightly-report/last', '$(( ($(date +%s) - 2 * 86400) * 1000 ))')"
it_mount "$IT_DIR/bucket" "$IT_DIR/mnt" -o "config=$src/.test-stepfs.json,spool=$IT_DIR/spool"
mkdir -p "$IT_DIR/mnt/incoming"
# wait_succeeded N: until N executions SUCCEEDED (10 s)
wait_succeeded() {
	for _ in $(seq 100); do
		[ "$(sqlite3 "$IT_DIR/journal.db" "SELECT count(*) FROM executions WHERE status = 'SUCCEEDED'")" -ge "$1" ] && return 0
		sleep 0.1
	done
	sqlite3 "$IT_DIR/journal.db" "SELECT name, status, error, cause FROM executions"
	return 1
}
printf 'a,b\n1,2\n3,4\n' >"$IT_DIR/mnt/incoming/sales q=1.csv"
it_check "the missed report and the ingest ran" wait_succeeded 2
rm "$IT_DIR/mnt/incoming/sales q=1.csv"
it_check "the delete was audited" wait_succeeded 3
out=$("$STEPFS_BIN" executions describe --config "$src/.test-stepfs.json" \
	"$("$STEPFS_BIN" executions list --config "$src/.test-stepfs.json" --state-machine ingest --json | jq -r '.executions[0].name')" --json | jq -r .output)
it_check_eq "ingest counted the rows through the mount" '{"key":"incoming/sales+q%3D1.csv","rows":3}' "$out"
it_check_eq "the delete was audited as an EventBridge event" "Object Deleted" \
	"$(jq -r 'select(.source == "aws.s3") | ."detail-type"' "$IT_DIR/out/audit.jsonl")"
it_check_eq "the missed nightly report ran once" 1 \
	"$(jq -r 'select(.report == "daily") | .report' "$IT_DIR/out/audit.jsonl" | wc -l)"
it_done
