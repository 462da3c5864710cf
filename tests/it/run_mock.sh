#!/usr/bin/env bash
# stepfs run --mock-config: a definition with a real program (a shell script
# through the functions table) and a mocked Lambda state, in the AWS Step
# Functions Local mock-file format: Return, Throw caught by Catch, Throw then
# Retry taking invocation "1", a Map sharing the count, the history events,
# and the errors for a bad file, an unknown test case and a missing index.
set -e
. "$(dirname "$0")/lib.sh"
it_need_cmd jq
D=$IT_DIR
cat >"$D/stamp.sh" <<'S'
#!/bin/sh
# a real task program: the input with "stamped": true added
exec jq -c '. + {stamped: true}'
S
chmod +x "$D/stamp.sh"
cat >"$D/config.json" <<'J'
{"functions": {"stamp": {"exec": "./stamp.sh"}}}
J
cat >"$D/order.asl.json" <<'J'
{"StartAt": "Stamp", "States": {
 "Stamp": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:stamp",
           "Next": "Charge"},
 "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:charge",
            "Retry": [{"ErrorEquals": ["Pay.Busy"], "IntervalSeconds": 5, "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["Pay.Declined"], "ResultPath": "$.declined", "Next": "Ship"}],
            "ResultPath": "$.charge", "Next": "Ship"},
 "Ship": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ResultPath": "$.shipped",
          "ItemProcessor": {"StartAt": "Label", "States": {
            "Label": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                      "Parameters": {"FunctionName": "label", "Payload.$": "$"},
                      "OutputPath": "$.Payload", "End": true}}},
          "End": true}}}
J
cat >"$D/mock.json" <<'J'
{"StateMachines": {"order": {"TestCases": {
   "Happy":    {"Charge": "ChargeOk", "Label": "Labels"},
   "Busy":     {"Charge": "ChargeBusyOnce", "Label": "Labels"},
   "Declined": {"Charge": "ChargeDeclined", "Label": "Labels"},
   "Broken":   {"Charge": "ChargeBusyOnly", "Label": "Labels"}}}},
 "MockedResponses": {
   "ChargeOk": {"0": {"Return": {"id": "ch_1"}}},
   "ChargeBusyOnce": {"0": {"Throw": {"Error": "Pay.Busy", "Cause": "try later"}},
                      "1": {"Return": {"id": "ch_2"}}},
   "ChargeDeclined": {"0": {"Throw": {"Error": "Pay.Declined", "Cause": "card expired"}}},
   "ChargeBusyOnly": {"0": {"Throw": {"Error": "Pay.Busy", "Cause": "try later"}}},
   "Labels": {"0": {"Return": {"StatusCode": 200, "Payload": "L0"}},
              "1-9": {"Return": {"StatusCode": 200, "Payload": "Ln"}}}}}
J
IN='{"items": ["a", "b", "c"]}'
run() { "$STEPFS_BIN" run "$D/order.asl.json" --config "$D/config.json" --mock-config "$D/mock.json" --input "$IN" --wait-scale 0 "$@"; }

out=$(run --test-case Happy)
it_check_eq "real program ran" true "$(jq -r .stamped <<<"$out")"
it_check_eq "mocked Return is the result" ch_1 "$(jq -r .charge.id <<<"$out")"
it_check_eq "Map iterations share the count (0, then 1-9)" '["L0","Ln","Ln"]' "$(jq -c .shipped <<<"$out")"

out=$(run --test-case Declined)
it_check_eq "mocked Throw is caught by Catch" "Pay.Declined card expired" \
	"$(jq -r '"\(.declined.Error) \(.declined.Cause)"' <<<"$out")"

out=$(run --test-case Busy --history)
it_check_eq "Retry takes invocation 1" ch_2 "$(head -n 1 <<<"$out" | jq -r .charge.id)"
hist=$(tail -n 1 <<<"$out")
it_check_eq "history of the mocked Lambda state" \
	"LambdaFunctionScheduled LambdaFunctionStarted LambdaFunctionFailed LambdaFunctionScheduled LambdaFunctionStarted LambdaFunctionSucceeded" \
	"$(jq -r '[.[] | select(.type | startswith("LambdaFunction")) | .type] | .[3:] | join(" ")' <<<"$hist")"
it_check_eq "mocked failure details" "Pay.Busy try later" \
	"$(jq -r '[.[] | select(.type == "LambdaFunctionFailed")][0].lambdaFunctionFailedEventDetails | "\(.error) \(.cause)"' <<<"$hist")"
it_check_eq "mocked lambda:invoke states show Task events" 3 \
	"$(jq '[.[] | select(.type == "TaskSucceeded")] | length' <<<"$hist")"

rc=0; run --test-case Broken 2>"$D/err" >/dev/null || rc=$?
it_check_eq "an invocation without a response fails the execution" 1 "$rc"
it_check "... with States.Runtime naming the invocation" grep -q "error: States.Runtime" "$D/err"
it_check "... and the mocked response" grep -q "mocked response 'ChargeBusyOnly' (state 'Charge'.*invocation 1" "$D/err"

rc=0; run --test-case Nope 2>"$D/err" >/dev/null || rc=$?
it_check_eq "unknown test case exits 2" 2 "$rc"
it_check "unknown test case lists the known ones" grep -q "has no test case 'Nope' (it has 'Happy', 'Busy', 'Declined', 'Broken')" "$D/err"

jq '.MockedResponses.ChargeOk = {"1-0": {"Return": 1}}' "$D/mock.json" >"$D/bad.json"
rc=0; "$STEPFS_BIN" run "$D/order.asl.json" --mock-config "$D/bad.json" --test-case Happy 2>"$D/err" >/dev/null || rc=$?
it_check_eq "bad mock file exits 2" 2 "$rc"
it_check "bad mock file: file, pointer and problem" grep -qF "'$D/bad.json': /MockedResponses/ChargeOk/1-0: invalid invocation index" "$D/err"

rc=0; "$STEPFS_BIN" run "$D/order.asl.json" --mock-config "$D/mock.json" 2>"$D/err" >/dev/null || rc=$?
it_check_eq "--mock-config without --test-case exits 2" 2 "$rc"

# without the mock, the unmapped Lambda function is refused before running
rc=0; "$STEPFS_BIN" run "$D/order.asl.json" --config "$D/config.json" --input "$IN" 2>"$D/err" >/dev/null || rc=$?
it_check_eq "unmocked run refuses the unknown function" 2 "$rc"
it_done
