#!/usr/bin/env bash
# stepfs watch killed with SIGKILL in the middle of a burst (files being
# committed, events journaled but not yet recorded as reported, executions
# running), twice, then restarted: every file gives exactly one execution.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

cat > "$WF_TMP/pass.asl.json" <<'JSON'
{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0, "Next": "P"},
  "P": {"Type": "Pass", "End": true}}}
JSON
cat > "$WF_TMP/cfg.json" <<JSON
{"Journal": "$WF_TMP/journal.db",
 "StateMachines": {"record": {"Definition": "$WF_TMP/pass.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "all", "StateMachine": "record", "Events": ["s3:ObjectCreated:*"]}]},
 "Limits": {"QueueSize": 50000}}
JSON
N=3000
wf_start watch "$WF_TMP/cfg.json"
mkdir -p "$WF_ROOT/in"
(for i in $(seq 1 $N); do echo "$i" > "$WF_ROOT/in/f$i"; done) &
writer=$!
# kill -9 once some events are journaled and while more are being committed
for k in 1 2; do
	for i in $(seq 1 200); do
		n=$(sqlite3 "$WF_JOURNAL" "SELECT count(*) FROM outbox" 2>/dev/null || echo 0)
		[ "${n:-0}" -ge $((k * 400)) ] && break
		sleep 0.05
	done
	kill -9 "$WF_PID"
	wait "$WF_PID" 2>/dev/null || true
	WF_PID=
	echo "killed after $n events journaled"
	cat "$WF_TMP/daemon.log" >> "$WF_TMP/all.log"
	wf_start watch "$WF_TMP/cfg.json"
done
wait $writer
wf_wait_ended $N 180 1
sleep 2
total=$(sqlite3 "$WF_JOURNAL" "SELECT count(*) FROM executions")
distinct=$(sqlite3 "$WF_JOURNAL" "SELECT count(DISTINCT coalesce(json_extract(input,
	'$.Records[0].s3.object.key'), json_extract(input, '$.detail.object.key'))) FROM executions")
events=$(sqlite3 "$WF_JOURNAL" "SELECT count(*) FROM outbox")
wf_check "after two kill -9: $N files, $total executions" [ "$total" = $N ]
wf_check "one execution per file ($distinct keys)" [ "$distinct" = $N ]
wf_check "one event per file ($events journaled)" [ "$events" = $N ]
wf_check "all succeeded" [ "$(wf_count SUCCEEDED)" = $N ]
cat "$WF_TMP/daemon.log" >> "$WF_TMP/all.log"
echo "events journaled before a kill and not raised again: $(grep -c 'journaled before the restart' "$WF_TMP/all.log" || true)"
wf_stop
wf_done
