#!/usr/bin/env bash
# .waitForTaskToken end to end: the drop-folder watcher runs a Standard
# execution whose Task program writes its STEPFS_TASK_TOKEN to a file and
# exits; a second process answers with `stepfs executions send-task-success
# / send-task-failure / send-task-heartbeat` through the journal. Also: bad
# tokens and output get AWS's error names, a used token is TaskTimedOut, and
# a daemon restart resumes the waiting task with a new token.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

mkdir -p "$WF_TMP/bin" "$WF_TMP/tokens"
cat > "$WF_TMP/bin/submit.sh" <<SH
#!/bin/bash
# the effective input is on stdin: write the token where the test finds it
key=\$(jq -r .key)
printf '%s' "\$STEPFS_TASK_TOKEN" > "$WF_TMP/tokens/\$key.tmp"
mv "$WF_TMP/tokens/\$key.tmp" "$WF_TMP/tokens/\$key"
echo '{"submitted": true}'
SH
chmod +x "$WF_TMP/bin/submit.sh"
cat > "$WF_TMP/approve.asl.json" <<JSON
{"StartAt": "Approve", "States": {
  "Approve": {"Type": "Task", "Resource": "exec:$WF_TMP/bin/submit.sh.waitForTaskToken",
    "Parameters": {"key.\$": "\$.Records[0].s3.object.key", "token.\$": "\$\$.Task.Token"},
    "ResultPath": "\$.approval", "TimeoutSeconds": 120, "Next": "Done"},
  "Done": {"Type": "Pass", "OutputPath": "\$.approval", "End": true}}}
JSON
cat > "$WF_TMP/cfg.json" <<JSON
{"Journal": "$WF_TMP/journal.db",
 "StateMachines": {"approve": {"Definition": "$WF_TMP/approve.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "all", "StateMachine": "approve", "Events": ["s3:ObjectCreated:*"]}]}}
JSON
drop=$WF_TMP/bucket
mkdir -p "$drop"
wf_start watch "$WF_TMP/cfg.json"

send() { "$WF_BIN" executions "$@" --journal "$WF_JOURNAL"; }
wait_token() { # key: wait for the program to write the token
	local i
	for i in $(seq 1 100); do
		[ -s "$WF_TMP/tokens/$1" ] && return 0
		sleep 0.1
	done
	echo "no token for $1"; tail -n 20 "$WF_TMP/daemon.log"; return 1
}
name_of() { # key: the execution started for it
	local n
	for n in $(wf_executions | jq -r '.executions[].name'); do
		if [ "$(send describe "$n" --json | jq -r '.input | fromjson | .Records[0].s3.object.key')" = "$1" ]; then
			echo "$n"
			return
		fi
	done
}

echo a > "$drop/a.txt"
wait_token a.txt
tok=$(cat "$WF_TMP/tokens/a.txt")
wf_check "the token is 32 base64url characters" grep -Eqx '[A-Za-z0-9_-]{32}' <<<"$tok"
sleep 0.5
wf_check "the program's exit does not end the state" [ "$(wf_count RUNNING)" = 1 ]
wf_check "heartbeat accepted" send send-task-heartbeat --task-token "$tok"
out=$(send send-task-success --task-token "$tok" --task-output '{' 2>&1) && rc=0 || rc=$?
wf_check "bad JSON output: InvalidOutput" bash -c '[ "$1" = 1 ] && grep -q InvalidOutput <<<"$2"' _ "$rc" "$out"
out=$(send send-task-success --task-token nonsense --task-output '{}' 2>&1) && rc=0 || rc=$?
wf_check "malformed token: InvalidToken" bash -c '[ "$1" = 1 ] && grep -q InvalidToken <<<"$2"' _ "$rc" "$out"
out=$(send send-task-success --task-token AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --task-output '{}' 2>&1) && rc=0 || rc=$?
wf_check "unknown token: TaskDoesNotExist" bash -c '[ "$1" = 1 ] && grep -q TaskDoesNotExist <<<"$2"' _ "$rc" "$out"
wf_check "send-task-success" send send-task-success --task-token "$tok" --task-output '{"approved": "yes"}'
wf_wait_ended 1 20
n=$(name_of a.txt)
d=$(send describe "$n" --json)
wf_check "execution succeeded with the callback's output" \
	bash -c '[ "$(jq -r .status <<<"$1")" = SUCCEEDED ] && [ "$(jq -r .output <<<"$1" | jq -r .approved)" = yes ]' _ "$d"
types=$(wf_history "$n" | jq -r '[.events[].type] | join(" ")')
wf_check "history: TaskScheduled TaskStarted TaskSubmitted TaskSucceeded" \
	grep -q "TaskScheduled TaskStarted TaskSubmitted TaskSucceeded" <<<"$types"
wf_check "the program got the token in its input too" \
	bash -c 'grep -qF -e "$2" <<<"$1"' _ "$(wf_history "$n" | jq -r '.events[] | select(.type == "TaskScheduled") | .taskScheduledEventDetails.parameters')" "$tok"
out=$(send send-task-success --task-token "$tok" --task-output '{}' 2>&1) && rc=0 || rc=$?
wf_check "a used token: TaskTimedOut" bash -c '[ "$1" = 1 ] && grep -q TaskTimedOut <<<"$2"' _ "$rc" "$out"

echo b > "$drop/b.txt"
wait_token b.txt
wf_check "send-task-failure" send send-task-failure --task-token "$(cat "$WF_TMP/tokens/b.txt")" \
	--error Rejected --cause "not today"
wf_wait_ended 2 20
d=$(send describe "$(name_of b.txt)" --json)
wf_check "execution failed with the callback's error and cause" \
	bash -c '[ "$(jq -r .status <<<"$1")" = FAILED ] && [ "$(jq -r .error <<<"$1")" = Rejected ] && [ "$(jq -r .cause <<<"$1")" = "not today" ]' _ "$d"

# a restart while a task waits: the old token is closed, the resumed task has a new one
echo c > "$drop/c.txt"
wait_token c.txt
old=$(cat "$WF_TMP/tokens/c.txt")
rm "$WF_TMP/tokens/c.txt"
wf_stop
out=$(send send-task-success --task-token "$old" --task-output '{}' 2>&1) && rc=0 || rc=$?
wf_check "no daemon: TaskTimedOut" bash -c '[ "$1" = 1 ] && grep -q TaskTimedOut <<<"$2"' _ "$rc" "$out"
wf_start watch "$WF_TMP/cfg.json"
wait_token c.txt
new=$(cat "$WF_TMP/tokens/c.txt")
wf_check "resumed task: a new token" [ "$new" != "$old" ]
out=$(send send-task-success --task-token "$old" --task-output '{}' 2>&1) && rc=0 || rc=$?
wf_check "the old token after the restart: TaskTimedOut" bash -c '[ "$1" = 1 ] && grep -q TaskTimedOut <<<"$2"' _ "$rc" "$out"
wf_check "the new token completes it" send send-task-success --task-token "$new" --task-output '{"approved": "late"}'
wf_wait_ended 3 20
wf_check "resumed execution succeeded" [ "$(send describe "$(name_of c.txt)" --json | jq -r .status)" = SUCCEEDED ]
wf_stop
wf_done
