#!/usr/bin/env bash
# End to end: a manifest uploaded to manifests/ lists files; a Map state
# checksums each one with a task; the sha256sum-format result lands in results/.
set -eu
cd "$(dirname "$0")/../.."
. tests/it/lib_workflow.sh

for mode in ${WF_MODES:-mount watch}; do
	echo "--- $mode"
	cfg=$(wf_config workflows/manifest-map/stepfs.json)
	wf_reset
	wf_start "$mode" "$cfg"
	mkdir -p "$WF_ROOT/data" "$WF_ROOT/manifests"
	for i in 1 2 3 4 5 6 7 8; do
		head -c $((i * 1000)) /dev/urandom > "$WF_ROOT/data/part-$i.bin"
	done
	(cd "$WF_ROOT" && printf 'data/part-%s.bin\n' 1 2 3 4 5 6 7 8 > manifests/batch.txt)
	wf_wait_ended 1 90
	wf_check "$mode: execution succeeded" [ "$(wf_count SUCCEEDED)" = 1 ]
	wf_check "$mode: all 8 items checksummed, verified by sha256sum" \
		bash -c "cd '$WF_ROOT' && sha256sum --quiet -c results/batch.txt.sha256 && [ \$(wc -l < results/batch.txt.sha256) = 8 ]"
	name=$(wf_executions SUCCEEDED | jq -r '.executions[0].name')
	hist=$(wf_history "$name")
	wf_check "$mode: 8 Map iterations in the history" \
		[ "$(jq '[.events[] | select(.type == "MapIterationSucceeded")] | length' <<<"$hist")" = 8 ]
	wf_stop
done
wf_done
