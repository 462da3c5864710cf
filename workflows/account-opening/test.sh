#!/usr/bin/env bash
# End to end: an application dropped into applications/ is checked (name and
# address in Parallel) and approved or rejected; the decision lands in
# decisions/. The input is the EventBridge "Object Created" shape.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

for mode in ${WF_MODES:-mount watch}; do
	echo "--- $mode"
	cfg=$(wf_config workflows/account-opening/stepfs.json)
	wf_reset
	wf_start "$mode" "$cfg"
	mkdir -p "$WF_ROOT/applications"
	cat > "$WF_ROOT/applications/ada.json" <<'JSON'
{"name": "Ada Lovelace", "email": "ada@example.org",
 "address": {"street": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH", "country": "gb"}}
JSON
	cat > "$WF_ROOT/applications/bob 2.json" <<'JSON'
{"name": "Bob", "address": {"street": "1 Main St", "city": "Springfield", "postcode": "12345", "country": "US"}}
JSON
	wf_wait_ended 2 90
	wf_check "$mode: one approved" [ "$(wf_count SUCCEEDED)" = 1 ]
	wf_check "$mode: one rejected" [ "$(wf_count FAILED)" = 1 ]
	wf_check "$mode: approval decision written" \
		[ "$(jq -r '.decision + " " + .checks[1].country' "$WF_ROOT/decisions/ada.json")" = "APPROVED GB" ]
	wf_check "$mode: rejection names the bad name (key with a space)" \
		grep -q "InvalidName" "$WF_ROOT/decisions/bob 2.json"
	name=$(wf_executions SUCCEEDED | jq -r '.executions[0].name')
	hist=$(wf_history "$name")
	wf_check "$mode: Parallel ran both checks" \
		[ "$(jq '[.events[] | select(.type == "TaskStateEntered") | .stateEnteredEventDetails.name] | map(select(. == "CheckName" or . == "CheckAddress")) | length' <<<"$hist")" = 2 ]
	wf_check "$mode: the input was an EventBridge Object Created event" \
		[ "$(jq -r '.events[0].executionStartedEventDetails.input | fromjson | .["detail-type"]' <<<"$hist")" = "Object Created" ]
	wf_stop
done
wf_done
