#!/usr/bin/env bash
# stepfs watch, hot reload: a changed definition and a config with a new rule
# are swapped in while watching and new files follow them; an invalid config
# (bad JSON) or definition (bad ASL) is logged with the file and the reason
# and the running version keeps working; SIGHUP reloads (a change the file
# watch cannot see: the definition is a symlink into another directory).
# Also: tasks spawned by the watcher inherit no descriptor >= 3, and every
# inotify descriptor of the daemon (libinotifytools creates its own without
# IN_CLOEXEC) is close-on-exec.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh
O=$(dirname "$WF_BIN")
TASK=$O/tests/helper_task
STAMP=$O/tests/helper_stamp
[ -x "$TASK" ] && [ -x "$STAMP" ] || { echo "missing $TASK or $STAMP (make unit-bins)"; exit 1; }

T=$WF_TMP
mkdir -p "$T/defs" "$T/other"
# the definition the config names is a symlink into another directory
pass_def() { # FILE VERSION
	printf '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"version": %s}, "End": true}}}\n' \
		"$2" >"$1.new"
	mv "$1.new" "$1"
}
pass_def "$T/other/m.asl.json" 1
ln -s "$T/other/m.asl.json" "$T/defs/m.asl.json"
cat >"$T/defs/fds.asl.json" <<J
{"StartAt": "Report", "States": {"Report": {"Type": "Task",
  "Resource": "arn:aws:lambda:us-east-1:000000000000:function:report", "End": true}}}
J
# a task (it records each start in \$STAMPS), then a 2 s wait
cat >"$T/defs/slow.asl.json" <<J
{"StartAt": "Stamp", "States": {"Stamp": {"Type": "Task", "Resource": "exec:$STAMP", "Next": "W"},
  "W": {"Type": "Wait", "Seconds": 2, "End": true}}}
J
# config_write RULES_JSON [JOURNAL]: the config with the given rules, written into place
config_write() {
	cat >"$T/defs/cfg.json.new" <<J
{"Journal": "${2:-$T/journal.db}",
 "StateMachines": {"m": {"Definition": "m.asl.json", "Type": "EXPRESS"},
                   "fds": {"Definition": "fds.asl.json", "Type": "EXPRESS"},
                   "slow": {"Definition": "slow.asl.json", "Type": "EXPRESS"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [$1]},
 "functions": {"report": {"exec": "$TASK", "args": ["report"]}},
 "tasks": {"env": {"STAMPS": "$T/stamps"}}}
J
	mv "$T/defs/cfg.json.new" "$T/defs/cfg.json"
}
RULE_A='{"Id": "a", "StateMachine": "m", "Events": ["s3:ObjectCreated:*"],
  "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}}}'
RULE_B='{"Id": "b", "StateMachine": "fds", "Events": ["s3:ObjectCreated:*"],
  "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "b/"}]}}}'
RULE_S='{"Id": "s", "StateMachine": "slow", "Events": ["s3:ObjectCreated:*"],
  "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "s/"}]}}}'
config_write "$RULE_A"

wf_start watch "$T/defs/cfg.json"
mkdir -p "$WF_ROOT/a" "$WF_ROOT/b" "$WF_ROOT/s"

q() { sqlite3 "$WF_JOURNAL" "$1" 2>/dev/null || true; }
# ended KEY: executions of KEY that have ended
ended() {
	q "SELECT count(*) FROM executions WHERE status != 'RUNNING' AND
	   json_extract(input, '$.Records[0].s3.object.key') = '$1'"
}
# version KEY: the output version of KEY's execution of m
version() {
	q "SELECT json_extract(output, '$.version') FROM executions WHERE state_machine = 'm' AND
	   json_extract(input, '$.Records[0].s3.object.key') = '$1'"
}
wait_key() { # KEY [timeout_s]
	local i
	for i in $(seq 1 $((${2:-20} * 10))); do
		[ "$(ended "$1")" -ge 1 ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for an execution of '$1'"
	tail -n 20 "$WF_TMP/daemon.log"
	return 1
}
# wait_log PATTERN N: until the daemon log has N lines matching PATTERN
wait_log() {
	local i
	for i in $(seq 1 100); do
		[ "$(grep -c -- "$1" "$WF_TMP/daemon.log" || true)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$1' x$2 in the log:"
	tail -n 20 "$WF_TMP/daemon.log"
	return 1
}
drop() { echo "$1" >"$WF_ROOT/$1"; wait_key "$1"; }

drop a/1
wf_check "version 1 runs" [ "$(version a/1)" = 1 ]

# a changed definition is swapped in
pass_def "$T/other/m.asl.json" 2
rm "$T/defs/m.asl.json" && ln -s "$T/other/m.asl.json" "$T/defs/m.asl.json"
wait_log "configuration reloaded (file changed)" 1
drop a/2
wf_check "changed definition: new files get version 2" [ "$(version a/2)" = 2 ]

# a new rule in the config
config_write "$RULE_A, $RULE_B"
wait_log "configuration reloaded (file changed)" 2
drop b/1
wf_check "added rule: b/1 started the new rule's machine" \
	[ "$(q "SELECT state_machine FROM executions WHERE json_extract(input, '$.Records[0].s3.object.key') = 'b/1'")" = fds ]
fds=$(q "SELECT json_extract(output, '$.fds') FROM executions WHERE state_machine = 'fds'")
wf_check "a task spawned by stepfs watch has no descriptor >= 3 (saw ${fds:-nothing})" [ "$fds" = "[]" ]
drop a/3
wf_check "the old rule still runs with version 2" [ "$(version a/3)" = 2 ]

# every inotify descriptor of the daemon is close-on-exec
bad=0 n=0
for f in /proc/"$WF_PID"/fd/*; do
	[ "$(readlink "$f")" = "anon_inode:inotify" ] || continue
	n=$((n + 1))
	flags=$(awk '/^flags:/ { print $2 }' /proc/"$WF_PID"/fdinfo/"${f##*/}")
	[ $((8#$flags & 8#2000000)) -ne 0 ] || { bad=$((bad + 1)); echo "fd ${f##*/}: flags $flags"; }
done
wf_check "the daemon's $n inotify descriptors are all close-on-exec" [ "$n" -ge 2 ] && [ "$bad" = 0 ]

# invalid config: bad JSON; logged with the file and the reason, the old one stays
printf '{"Journal": "%s",\n "StateMachines": {' "$T/journal.db" >"$T/defs/cfg.json.new"
mv "$T/defs/cfg.json.new" "$T/defs/cfg.json"
wait_log "configuration not reloaded" 1
wf_check "bad JSON: the log names the file and the position" \
	grep -q "configuration not reloaded.*cfg.json:[0-9]*:[0-9]*" "$WF_TMP/daemon.log"
drop a/4
drop b/2
wf_check "bad JSON: the running version keeps working" [ "$(version a/4)" = 2 ]

# invalid definition (a Next to a state that does not exist), with a valid config
config_write "$RULE_A, $RULE_B"
wait_log "configuration reloaded (file changed)" 3
cat >"$T/other/m.asl.json.new" <<'J'
{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"version": 9}, "Next": "Nowhere"}}}
J
mv "$T/other/m.asl.json.new" "$T/other/m.asl.json"
kill -HUP "$WF_PID"
wait_log "configuration not reloaded" 2
wf_check "bad ASL: the log names the definition and the reason" \
	grep -q "configuration not reloaded (SIGHUP).*m.asl.json.*Nowhere" "$WF_TMP/daemon.log"
drop a/5
wf_check "bad ASL: the running version keeps working" [ "$(version a/5)" = 2 ]

# SIGHUP: the definition's target changed where no file watch sees it
pass_def "$T/other/m.asl.json" 3
kill -HUP "$WF_PID"
wait_log "configuration reloaded (SIGHUP)" 1
drop a/6
wf_check "SIGHUP: new files get version 3" [ "$(version a/6)" = 3 ]

# a new config that validates but cannot start (its journal's directory does
# not exist): the old one is started again from memory and keeps working
config_write "$RULE_A, $RULE_B" "$T/no/such/dir/journal.db"
wait_log "configuration not reloaded (file changed)" 2
wf_check "unstartable config: the log names the journal" \
	grep -q "configuration not reloaded (file changed).*no/such/dir" "$WF_TMP/daemon.log"
drop a/7
wf_check "unstartable config: the running version keeps working" [ "$(version a/7)" = 3 ]

# a reload while an execution runs lets it finish: its task is not run again
config_write "$RULE_A, $RULE_B, $RULE_S"
wait_log "configuration reloaded (file changed)" 4
echo s >"$WF_ROOT/s/1"
for i in $(seq 1 100); do [ -s "$T/stamps" ] && break; sleep 0.1; done
kill -HUP "$WF_PID"
wait_log "configuration reloaded (SIGHUP)" 2
wait_key s/1
wf_check "reload during an execution: its task ran once ($(wc -l <"$T/stamps"))" \
	[ "$(wc -l <"$T/stamps")" = 1 ]
wf_check "reload during an execution: it succeeded" \
	[ "$(q "SELECT status FROM executions WHERE state_machine = 'slow'")" = SUCCEEDED ]

total=$(q "SELECT count(*) FROM executions")
wf_check "one execution per file, no more ($total of 10)" [ "$total" = 10 ]
wf_check "the daemon is still running" kill -0 "$WF_PID"
wf_stop
wf_done
