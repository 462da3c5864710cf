#!/usr/bin/env bash
# Task states end to end through the stepfs binary: exec: programs relative to
# the definition, a functions table (--config) for Lambda ARNs and
# lambda:invoke, errors named by the program, Retry of a flaky program,
# TimeoutSeconds, and `stepfs validate --resources/--config` catching missing
# and non-executable programs. Object keys with shell metacharacters travel
# in JSON and never reach a shell.
set -e
. "$(dirname "$0")/lib.sh"
it_need_cmd jq
D=$IT_DIR
H=$(it_need_helper helper_task)

mkdir -p "$D/wf/bin"
cat >"$D/wf/bin/upper.sh" <<'S'
#!/bin/sh
# a task program in any language: JSON in on stdin, JSON out on stdout
exec jq -c '{key: .key, upper: (.key | ascii_upcase), state: env.STEPFS_STATE_NAME}'
S
chmod +x "$D/wf/bin/upper.sh"
cat >"$D/wf/bin/fail.sh" <<'S'
#!/bin/sh
echo '{"errorType": "Image.TooLarge", "errorMessage": "10 MB is too much"}'
exit 1
S
chmod +x "$D/wf/bin/fail.sh"
printf 'not executable' >"$D/wf/bin/plain.sh"

cat >"$D/wf/main.asl.json" <<'J'
{"StartAt": "Upper", "States": {
 "Upper": {"Type": "Task", "Resource": "exec:./bin/upper.sh", "Next": "Fail"},
 "Fail": {"Type": "Task", "Resource": "exec:bin/fail.sh",
          "Catch": [{"ErrorEquals": ["Image.TooLarge"], "ResultPath": "$.error", "Next": "Done"}],
          "End": true},
 "Done": {"Type": "Pass", "End": true}}}
J
key='in/$(touch pwned); rm -rf x`id`;"quoted" name.csv'
input=$(jq -cn --arg k "$key" '{key: $k}')
out=$(cd / && "$STEPFS_BIN" run "$D/wf/main.asl.json" --input "$input")
it_check_eq "exec: program output" "$key" "$(jq -r .key <<<"$out")"
it_check_eq "context in the environment" Upper "$(jq -r .state <<<"$out")"
it_check_eq "errorType names the error" Image.TooLarge "$(jq -r .error.Error <<<"$out")"
it_check "cause is the error object" jq -e '.error.Cause | fromjson | .errorMessage == "10 MB is too much"' <<<"$out"
it_check "no shell saw the key" test ! -e /pwned -a ! -e "$D/wf/pwned"
out=$(cd "$D" && "$STEPFS_BIN" run wf/main.asl.json --input "$input")
it_check_eq "relative definition path" "$key" "$(jq -r .key <<<"$out")"

# functions table: Lambda ARNs and lambda:invoke resolve to local programs
cat >"$D/wf/stepfs.json" <<J
{"functions": {
   "flaky": {"exec": "$H", "args": ["flaky", "$D/counter", "3"]},
   "echo": {"exec": "$H", "args": ["echo"]},
   "slow": {"exec": "$H", "args": ["sleep", "30"]},
   "plain": "./bin/plain.sh"},
 "tasks": {"kill_grace": 0.5}}
J
cat >"$D/wf/lambda.asl.json" <<'J'
{"StartAt": "Flaky", "States": {
 "Flaky": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:flaky",
           "Retry": [{"ErrorEquals": ["Flaky.NotYet"], "IntervalSeconds": 1, "MaxAttempts": 3}],
           "ResultPath": "$.flaky", "Next": "Invoke"},
 "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "echo", "Payload.$": "$.flaky"},
            "ResultSelector": {"p.$": "$.Payload", "code.$": "$.StatusCode", "v.$": "$.ExecutedVersion"},
            "ResultPath": "$.invoke", "Next": "Slow"},
 "Slow": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:slow",
          "TimeoutSeconds": 1, "End": true}}}
J
rc=0
out=$("$STEPFS_BIN" run "$D/wf/lambda.asl.json" --config "$D/wf/stepfs.json" --wait-scale 0 --json) || rc=$?
it_check_eq "timeout fails the execution" 1 "$rc"
it_check_eq "States.Timeout" States.Timeout "$(jq -r .error <<<"$out")"
it_check_eq "flaky program succeeded on its third try" 3 "$(cat "$D/counter")"
hist=$("$STEPFS_BIN" run "$D/wf/lambda.asl.json" --config "$D/wf/stepfs.json" --wait-scale 0 --history 2>/dev/null | tail -n 1) || true
it_check "lambda:invoke result shape" jq -e '[.[] | select(.type == "TaskStateExited" and .stateExitedEventDetails.name == "Invoke")][0].stateExitedEventDetails.output | fromjson | .invoke.code == 200 and .invoke.v == "$LATEST" and .invoke.p.attempt == 4' <<<"$hist"

# validate: resources checked only when asked
it_check "plain validate reads files only" "$STEPFS_BIN" validate "$D/wf/main.asl.json"
cat >"$D/wf/bad.asl.json" <<'J'
{"StartAt": "A", "States": {
 "A": {"Type": "Task", "Resource": "exec:./bin/missing", "Next": "B"},
 "B": {"Type": "Task", "Resource": "exec:./bin/plain.sh", "Next": "C"},
 "C": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:nosuch", "End": true}}}
J
rc=0
out=$("$STEPFS_BIN" validate --config "$D/wf/stepfs.json" "$D/wf/bad.asl.json") || rc=$?
it_check_eq "validate --config exit status" 1 "$rc"
it_check "missing program named" grep -q "/States/A/Resource: INVALID_RESOURCE: .*bin/missing': No such file" <<<"$out"
it_check "non-executable program named" grep -q "/States/B/Resource: .*plain.sh' is not executable" <<<"$out"
it_check "unknown function named" grep -q "/States/C/Resource: .*function 'nosuch' is not in the functions table" <<<"$out"
it_check "good definition passes --resources" "$STEPFS_BIN" validate --resources "$D/wf/main.asl.json"
rc=0
out=$("$STEPFS_BIN" validate --config "$D/nope.json" "$D/wf/main.asl.json" 2>&1) || rc=$?
it_check_eq "unreadable config" 2 "$rc"
echo '{"functions": {"x": {"exce": "y"}}}' >"$D/badcfg.json"
rc=0
out=$("$STEPFS_BIN" run --config "$D/badcfg.json" "$D/wf/main.asl.json" 2>&1) || rc=$?
it_check "config error names file and pointer" grep -q "badcfg.json': /functions/x/exce: unknown key" <<<"$out"
it_done
