#!/usr/bin/env bash
# End to end: CSV files dropped into incoming/ through a real mount (and
# through the drop-folder watcher) are validated, transformed, recorded in
# SQLite and notified; bad files are quarantined; other files start nothing.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

for mode in ${WF_MODES:-mount watch}; do
	echo "--- $mode"
	db=$WF_TMP/ingest-$mode.db
	cfg=$(wf_config workflows/csv-ingest/stepfs.json ".tasks.env.INGEST_DB = \"$db\"")
	wf_reset
	wf_start "$mode" "$cfg"
	mkdir -p "$WF_ROOT/incoming"
	printf 'name,qty\napple,3\npear,5\n' > "$WF_ROOT/incoming/fruit.csv"
	printf 'name,qty\nbroken\n' > "$WF_ROOT/incoming/bad.csv"
	printf 'not,a,rule,match\n' > "$WF_ROOT/incoming/notes.txt"
	printf 'a,b\n1,2\n' > "$WF_ROOT/elsewhere.csv"
	wf_wait_ended 2 90
	sleep 1 # anything that should not start would have started by now
	wf_check "$mode: two executions, no more" [ "$(wf_executions | jq '.executions | length')" = 2 ]
	wf_check "$mode: fruit.csv succeeded" [ "$(wf_count SUCCEEDED)" = 1 ]
	wf_check "$mode: bad.csv failed" [ "$(wf_count FAILED)" = 1 ]
	wf_check "$mode: JSON written to processed/" \
		[ "$(jq -c '.[1]' "$WF_ROOT/processed/fruit.csv.json")" = '{"name":"pear","qty":"5"}' ]
	wf_check "$mode: notification message" grep -q "incoming/fruit.csv ingested: 2 rows, 2 columns" \
		"$WF_ROOT/outbox/fruit.csv.msg"
	wf_check "$mode: recorded in SQLite" \
		[ "$(sqlite3 "$db" 'select key||","||rows from ingested')" = "incoming/fruit.csv,2" ]
	wf_check "$mode: bad file quarantined" [ -f "$WF_ROOT/quarantine/bad.csv" ]
	wf_check "$mode: bad file gone from incoming/" [ ! -e "$WF_ROOT/incoming/bad.csv" ]
	wf_check "$mode: quarantine note names the line" grep -q "line 2 has 1 fields" \
		"$WF_ROOT/quarantine/bad.csv.why"
	name=$(wf_executions SUCCEEDED | jq -r '.executions[0].name')
	hist=$(wf_history "$name")
	wf_check "$mode: the flaky Transform failed once and was retried" \
		[ "$(jq '[.events[] | select(.type == "TaskFailed")] | length' <<<"$hist")" = 1 ]
	wf_check "$mode: history ends with ExecutionSucceeded" \
		[ "$(jq -r '.events[-1].type' <<<"$hist")" = ExecutionSucceeded ]
	if [ "$mode" = mount ]; then
		wf_check "mount: objects are in the bucket dir" [ -f "$WF_BUCKET/processed/fruit.csv.json" ]
	fi
	wf_stop
done
wf_done
