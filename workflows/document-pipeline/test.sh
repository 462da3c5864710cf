#!/usr/bin/env bash
# End to end: documents dropped into docs/ are typed by content, routed by a
# Choice, then wait (Wait state polling) until approvals/<name>.ok appears,
# and are published; unsupported types fail with a named error.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

for mode in ${WF_MODES:-mount watch}; do
	echo "--- $mode"
	cfg=$(wf_config workflows/document-pipeline/stepfs.json '.tasks.env.APPROVAL_POLL_SECONDS = "1" | .tasks.env.APPROVAL_MAX_POLLS = "60"')
	wf_reset
	wf_start "$mode" "$cfg"
	# in a mount, mkdir stores a folder-marker object "docs/", whose event the
	# workflow ignores (it succeeds at once); count from there
	mkdir -p "$WF_ROOT/docs" "$WF_ROOT/approvals"
	base=0
	if [ "$mode" = mount ]; then
		wf_wait_ended 1 30
		base=1
	fi
	printf 'Quarterly report\nAll good.\n' > "$WF_ROOT/docs/report.txt"
	printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x10\x08\x02\0\0\0' > "$WF_ROOT/docs/logo.png"
	printf '%%PDF-1.4\n' > "$WF_ROOT/docs/scan.pdf"
	wf_wait_ended $((base + 1)) 60
	sleep 2
	wf_check "$mode: pdf rejected as unsupported, others waiting" \
		[ "$(wf_count FAILED) $(wf_count RUNNING)" = "1 2" ]
	wf_check "$mode: nothing published before approval" [ ! -e "$WF_ROOT/published/report.txt" ]
	touch "$WF_ROOT/approvals/report.txt.ok" "$WF_ROOT/approvals/logo.png.ok"
	wf_wait_ended $((base + 3)) 60
	wf_check "$mode: both published after approval" \
		[ -f "$WF_ROOT/published/report.txt" -a -f "$WF_ROOT/published/logo.png" ]
	wf_check "$mode: two succeeded" [ "$(wf_count SUCCEEDED)" = $((base + 2)) ]
	# the history of a published document (not the folder marker)
	for name in $(wf_executions SUCCEEDED | jq -r '.executions[].name'); do
		hist=$(wf_history "$name")
		jq -e '[.events[] | select(.type == "WaitStateEntered")] | length > 0' <<<"$hist" >/dev/null && break
	done
	wf_check "$mode: the Wait state polled" \
		[ "$(jq '[.events[] | select(.type == "WaitStateEntered")] | length' <<<"$hist")" -ge 2 ]
	if [ "$mode" = mount ]; then
		wf_check "mount: the folder marker was ignored (succeeded, published nothing)" \
			[ ! -e "$WF_ROOT/published/docs" ]
	fi
	out=$(jq -r '.events[-1].executionSucceededEventDetails.output | fromjson | .type' <<<"$hist")
	wf_check "$mode: output names the type" [ "$out" = text -o "$out" = png ]
	wf_stop
done
wf_done
