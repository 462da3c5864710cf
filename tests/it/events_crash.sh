#!/usr/bin/env bash
# tests/it/events_crash.sh: kill -9 of the mount daemon at each step between
# close() and the end of an execution, on a real mount (local backend):
#   commit  the object is uploaded, its event not yet journaled
#   append  the event is journaled, close() not yet answered
#   route   the executions are recorded, not yet started
#   start   an execution has started (others are mid-Task)
#   history a history event of an execution was journaled (mid-execution)
# The daemon kills itself with SIGKILL at the 40th pass of the point
# (STEPFS_TEST_CRASH, engine/router.c). A writer writes 200 files; when a
# write fails because the daemon died, the mount is remounted and, if the
# file never reached the daemon, written again. Afterwards each of the 200
# keys has exactly one execution (0 lost, 0 duplicates), every Standard
# execution SUCCEEDED after the restart (resumed from its journaled history:
# one ExecutionStarted each), and every event is routed.
set -e
. "$(dirname "$0")/lib.sh"
it_need_fuse
it_need_cmd jq sqlite3

W=$IT_DIR/wf
mkdir -p "$W"
cat >"$W/work.sh" <<'S'
#!/bin/sh
# a Task that takes a while, so a crash finds executions mid-Task
sleep 0.05
cat >/dev/null
echo "$STEPFS_EXECUTION_NAME" >>"$RESULTS/ran"
echo '{"done": true}'
S
chmod +x "$W/work.sh"
cat >"$W/work.asl.json" <<'J'
{"StartAt": "Work", "States": {
  "Work": {"Type": "Task", "Resource": "exec:./work.sh", "Next": "After"},
  "After": {"Type": "Pass", "End": true}}}
J

# crash_run POINT: one full run with a crash at POINT
crash_run() {
	local point=$1 D=$IT_DIR/$1 i crashed=0 pid n
	local B=$D/bucket M=$D/mnt J=$D/journal.db
	mkdir -p "$B" "$M" "$D/results"
	cat >"$D/stepfs.json" <<J
{"Journal": "$J",
 "StateMachines": {"work": {"Definition": "$W/work.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "csv", "StateMachine": "work", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}}}]},
 "tasks": {"env": {"RESULTS": "$D/results"}}}
J
	STEPFS_TEST_CRASH=$point:40 it_mount "$B" "$M" -o "config=$D/stepfs.json,spool=$D/spool" ||
		return 1
	pid=${IT_MOUNT_PIDS[${#IT_MOUNT_PIDS[@]} - 1]}
	mkdir "$M/in"
	for ((i = 1; i <= 200; i++)); do
		if (echo "$i" >"$M/in/f$i.csv") 2>/dev/null; then
			continue
		fi
		# the daemon died: wait for it, remount, recover
		crashed=$((crashed + 1))
		for ((n = 0; n < 100; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		it_umount "$M" >/dev/null 2>&1 || true
		it_mount "$B" "$M" -o "config=$D/stepfs.json,spool=$D/spool" || return 1
		pid=${IT_MOUNT_PIDS[${#IT_MOUNT_PIDS[@]} - 1]}
		sleep 1 # the spool replays what the dead daemon had accepted
		if [ ! -f "$B/in/f$i.csv" ]; then
			echo "$i" >"$M/in/f$i.csv" || return 1
		fi
	done
	# a crash on the loop thread may come after the last write: wait for it too
	for ((n = 0; n < 50; n++)); do
		[ "$(sqlite3 "$J" "SELECT count(*) FROM executions WHERE status != 'RUNNING'")" = 200 ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			crashed=$((crashed + 1))
			it_umount "$M" >/dev/null 2>&1 || true
			it_mount "$B" "$M" -o "config=$D/stepfs.json,spool=$D/spool" || return 1
			pid=${IT_MOUNT_PIDS[${#IT_MOUNT_PIDS[@]} - 1]}
		fi
		sleep 0.2
	done
	it_umount "$M"
	it_check_eq "$point: the daemon crashed once" 1 "$crashed"
	it_check "$point: the crash was at the point" grep -q "test crash at '$point' #40" "$IT_DIR"/mount-*.log
	it_check_eq "$point: 200 objects with their content" 200 \
		"$(for ((i = 1; i <= 200; i++)); do [ "$(cat "$B/in/f$i.csv" 2>/dev/null)" = "$i" ] && echo; done | wc -l)"
	it_check_eq "$point: 200 executions" 200 "$(sqlite3 "$J" "SELECT count(*) FROM executions")"
	it_check_eq "$point: one execution per key (0 lost, 0 duplicates)" 200 \
		"$(sqlite3 "$J" "SELECT count(DISTINCT json_extract(input, '\$.Records[0].s3.object.key')) FROM executions")"
	it_check_eq "$point: all SUCCEEDED after the restart" 200 \
		"$(sqlite3 "$J" "SELECT count(*) FROM executions WHERE status = 'SUCCEEDED'")"
	it_check_eq "$point: every event routed" 0 "$(sqlite3 "$J" "SELECT count(*) FROM outbox WHERE routed = 0")"
	it_check_eq "$point: one event per key" 200 "$(sqlite3 "$J" "SELECT count(DISTINCT key) FROM outbox WHERE key LIKE '%.csv'")"
	it_check_eq "$point: no second event for a key" 200 "$(sqlite3 "$J" "SELECT count(*) FROM outbox WHERE key LIKE '%.csv'")"
	it_check_eq "$point: resumed, not restarted: one ExecutionStarted per execution" 200 \
		"$(sqlite3 "$J" "SELECT count(*) FROM history WHERE json_extract(event, '\$.type') = 'ExecutionStarted'")"
	it_check_eq "$point: every history ends in ExecutionSucceeded" 200 \
		"$(sqlite3 "$J" "SELECT count(*) FROM history WHERE json_extract(event, '\$.type') = 'ExecutionSucceeded'")"
	it_check_eq "$point: every execution's task ran at least once" 200 "$(sort -u "$D/results/ran" | wc -l)"
	it_log "$point: task runs $(wc -l <"$D/results/ran") for 200 executions (a Task in flight at the crash runs again)"
}

for p in ${EVENTS_CRASH_POINTS:-commit append route start history}; do
	crash_run "$p"
done
it_done
