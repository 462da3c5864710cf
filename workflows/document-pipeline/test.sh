#!/usr/bin/env bash
# End to end: documents dropped into docs/ are typed by content, routed by a
# Choice, then wait (Wait state polling) until approvals/<name>.ok appears,
# and are published; unsupported types fail with a named error.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh
[ -e /dev/fuse ] || { echo "no /dev/fuse"; exit 77; }

for mode in ${WF_MODES:-watch}; do
	echo "--- $mode"
	cfg=$(wf_config workflows/document-pipeline/stepfs.json '.tasks.env.APPROVAL_POLL_SECONDS = "1" | .tasks.env.APPROVAL_MAX_POLLS = "60"')
	rm -f "$WF_TMP/journal.db"*
	wf_start "$mode" "$cfg"
	mkdir -p "$WF_ROOT/docs" "$WF_ROOT/approvals"
	printf 'Quarterly report\nAll good.\n' > "$WF_ROOT/docs/report.txt"
	printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x10\x08\x02\0\0\0' > "$WF_ROOT/docs/logo.png"
	printf '%%PDF-1.4\n' > "$WF_ROOT/docs/scan.pdf"
	wf_wait_ended 1 60
	sleep 2
	wf_check "$mode: pdf rejected as unsupported, others waiting" \
		[ "$(wf_count FAILED) $(wf_count RUNNING)" = "1 2" ]
	wf_check "$mode: nothing published before approval" [ ! -e "$WF_ROOT/published/report.txt" ]
	touch "$WF_ROOT/approvals/report.txt.ok" "$WF_ROOT/approvals/logo.png.ok"
	wf_wait_ended 3 60
	wf_check "$mode: both published after approval" \
		[ -f "$WF_ROOT/published/report.txt" -a -f "$WF_ROOT/published/logo.png" ]
	wf_check "$mode: two succeeded" [ "$(wf_count SUCCEEDED)" = 2 ]
	name=$(wf_executions SUCCEEDED | jq -r '.executions[] | select(.name) | .name' | head -n 1)
	hist=$(wf_history "$name")
	wf_check "$mode: the Wait state polled" \
		[ "$(jq '[.events[] | select(.type == "WaitStateEntered")] | length' <<<"$hist")" -ge 2 ]
	out=$(jq -r '.events[-1].executionSucceededEventDetails.output | fromjson | .type' <<<"$hist")
	wf_check "$mode: output names the type" [ "$out" = text -o "$out" = png ]
	wf_stop
done
wf_done
