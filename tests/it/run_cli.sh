#!/usr/bin/env bash
# stepfs run: output, --json (start-sync-execution shape), --history, exit
# statuses, --wait-scale, and precise errors for bad definitions and inputs.
set -e
. "$(dirname "$0")/lib.sh"
it_need_cmd jq
D=$IT_DIR
cat >"$D/loop.asl.json" <<'J'
{"StartAt":"Init","States":{
 "Init":{"Type":"Pass","Parameters":{"i.$":"$.from"},"Next":"Inc"},
 "Inc":{"Type":"Pass","Parameters":{"i.$":"States.MathAdd($.i, 1)"},"Next":"Check"},
 "Check":{"Type":"Choice","Choices":[{"Variable":"$.i","NumericLessThan":5,"Next":"Inc"}],"Default":"Wait"},
 "Wait":{"Type":"Wait","Seconds":3600,"Next":"Done"},
 "Done":{"Type":"Succeed"}}}
J
cat >"$D/fail.asl.json" <<'J'
{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Oops","Cause":"it broke"}}}
J
echo '{"from": 1}' >"$D/in.json"

out=$("$STEPFS_BIN" run "$D/loop.asl.json" --input "@$D/in.json" --wait-scale 0)
it_check_eq "output of a Pass/Choice loop" '{"i":5}' "$out"
out=$("$STEPFS_BIN" run "$D/loop.asl.json" --input '{"from":3}' --wait-scale 0 --json)
it_check_eq "--json status" SUCCEEDED "$(jq -r .status <<<"$out")"
it_check_eq "--json output is JSON text" '{"i":5}' "$(jq -r .output <<<"$out")"
it_check "--json has ARNs" jq -e '.executionArn and .stateMachineArn and .startDate and .stopDate' <<<"$out"
out=$("$STEPFS_BIN" run "$D/loop.asl.json" --input '{"from":4}' --wait-scale 0 --history --name n1 | tail -n 1)
it_check_eq "--history event types" \
	"ExecutionStarted PassStateEntered PassStateExited PassStateEntered PassStateExited ChoiceStateEntered ChoiceStateExited WaitStateEntered WaitStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded" \
	"$(jq -r '[.[].type]|join(" ")' <<<"$out")"
it_check_eq "--history ids" "1 0 2 0 3 2" "$(jq -r '[.[0:3][]|.id,.previousEventId]|join(" ")' <<<"$out")"

rc=0; "$STEPFS_BIN" run "$D/fail.asl.json" 2>"$D/err" || rc=$?
it_check_eq "failed execution exits 1" 1 "$rc"
it_check "error and cause on stderr" grep -q "error: Oops" "$D/err"
out=$("$STEPFS_BIN" run "$D/fail.asl.json" --json || true)
it_check_eq "--json failure" "FAILED Oops it broke" "$(jq -r '"\(.status) \(.error) \(.cause)"' <<<"$out")"

printf '{"StartAt": "A",\n "States": {"A": {"Type": "Pass",, }}}' >"$D/bad.json"
rc=0; "$STEPFS_BIN" run "$D/bad.json" 2>"$D/err" || rc=$?
it_check_eq "malformed definition exits 2" 2 "$rc"
it_check "malformed definition names line and column" grep -q "bad.json:2:" "$D/err"
echo '{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}' >"$D/dangling.json"
rc=0; "$STEPFS_BIN" run "$D/dangling.json" 2>"$D/err" || rc=$?
it_check_eq "dangling Next exits 2" 2 "$rc"
it_check "dangling Next names the pointer" grep -q "/States/A/Next" "$D/err"
rc=0; "$STEPFS_BIN" run "$D/loop.asl.json" --input '{"from":' 2>"$D/err" || rc=$?
it_check_eq "malformed input exits 2" 2 "$rc"
it_check "malformed input names the column" grep -q "column" "$D/err"
cat >"$D/task.asl.json" <<'J'
{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"exec:/bin/cat","ResultPath":"$.echo","Next":"T2"},
 "T2":{"Type":"Task","Resource":"exec:/bin/false","Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}],
       "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"D"}],"End":true},"D":{"Type":"Succeed"}}}
J
out=$("$STEPFS_BIN" run "$D/task.asl.json" --input '{"a":1}' --wait-scale 0 --history)
it_check_eq "Task runs a local program" '{"a":1}' "$(head -n 1 <<<"$out" | jq -c .echo)"
it_check_eq "failing program is caught" States.TaskFailed "$(head -n 1 <<<"$out" | jq -r .err.Error)"
it_check_eq "retry repeats TaskScheduled/Started/Failed" 2 "$(tail -n 1 <<<"$out" | jq '[.[]|select(.type=="TaskFailed")]|length')"
cat >"$D/ja.asl.json" <<'J'
{"QueryLanguage":"JSONata","StartAt":"T","States":{
 "T":{"Type":"Task","Resource":"exec:/bin/cat","Arguments":{"n":"{% $states.input.from + 1 %}"},
      "Assign":{"seen":"{% $states.result.n %}"},"Output":"{% $states.result %}","Next":"C"},
 "C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n > 3 %}","Next":"Big"}],"Default":"Small"},
 "Big":{"Type":"Pass","Output":{"big":"{% $seen %}"},"End":true},
 "Small":{"Type":"Fail","Error":"Small","Cause":"{% 'got ' & $string($seen) %}"}}}
J
out=$("$STEPFS_BIN" run "$D/ja.asl.json" --input '{"from":4}')
it_check_eq "JSONata: Arguments, Assign, Output, Choice Condition" '{"big":5}' "$out"
out=$("$STEPFS_BIN" run "$D/ja.asl.json" --input '{"from":1}' --json || true)
it_check_eq "JSONata: Fail Cause from an expression" "FAILED Small got 2" \
	"$(jq -r '"\(.status) \(.error) \(.cause)"' <<<"$out")"
out=$("$STEPFS_BIN" run "$D/ja.asl.json" --input '{"from":"x"}' --json || true)
it_check_eq "JSONata: a failing expression is States.QueryEvaluationError" \
	"FAILED States.QueryEvaluationError" "$(jq -r '"\(.status) \(.error)"' <<<"$out")"
start=$(date +%s%N)
"$STEPFS_BIN" run "$D/loop.asl.json" --input '{"from":1}' --wait-scale 0.0003 >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
it_check "--wait-scale shortens a 1 h Wait to about 1 s ($ms ms)" test "$ms" -ge 900 -a "$ms" -lt 5000
it_done
