#!/usr/bin/env bash
# tests/it/validate.sh: `stepfs validate` as a user runs it: output format
# (FILE: /pointer: CODE: message, FILE:LINE:COLUMN for JSON syntax errors,
# FILE: ok), --json in the shape of AWS ValidateStateMachineDefinition, exit
# statuses, and every definition of the AWS-recorded conformance set accepted.
set -e
. "$(dirname "$0")/lib.sh"
cd "$IT_DIR"

cat >good.json <<'J'
{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Succeed"}}}
J
cat >dangling.json <<'J'
{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"},"B":{"Type":"Succeed"}}}
J
printf '{"StartAt": "A",\n  "States": {\n    "A": {"Type": "Pass", "End": true},\n  }\n}\n' >syntax.json
printf '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"A":{"Type":"Succeed"}}}' >dupkey.json
: >empty.json
printf '{"Type":"Pass","Next":"Elsewhere"}' >state.json

out_is() { # expected command...
	local want=$1 got
	shift
	got=$("$@" 2>&1) || true
	[ "$got" = "$want" ] || { printf 'want: %s\ngot:  %s\n' "$want" "$got"; return 1; }
}
rc_is() { # rc command...
	local want=$1 rc=0
	shift
	"$@" >/dev/null 2>&1 || rc=$?
	[ "$rc" = "$want" ] || { echo "exit $rc, want $want"; return 1; }
}

it_check "valid file prints ok" out_is "good.json: ok" "$STEPFS_BIN" validate good.json
it_check "valid file exits 0" rc_is 0 "$STEPFS_BIN" validate good.json
it_check "dangling Next reported with pointer and code" out_is \
	"dangling.json: /States/A/Next: MISSING_TRANSITION_TARGET: missing 'Next' target: no state is named 'Nope'
dangling.json: /States/B: MISSING_TRANSITION_TARGET: state 'B' is not reachable" \
	"$STEPFS_BIN" validate dangling.json
it_check "invalid file exits 1" rc_is 1 "$STEPFS_BIN" validate good.json dangling.json
it_check "malformed JSON as FILE:LINE:COLUMN" out_is \
	"syntax.json:4:3: string or '}' expected near '}'" "$STEPFS_BIN" validate syntax.json
it_check "duplicate keys rejected" sh -c "'$STEPFS_BIN' validate dupkey.json | grep -q '^dupkey.json:1:[0-9]*: duplicate object key'"
it_check "empty file" out_is "empty.json: /: MISSING_DESCRIPTION: the definition is empty" \
	"$STEPFS_BIN" validate empty.json
it_check "missing file exits 2" rc_is 2 "$STEPFS_BIN" validate no-such-file.json
it_check "directory named" sh -c "'$STEPFS_BIN' validate . 2>&1 | grep -q \"cannot read '.': Is a directory\""
it_check "no argument exits 2" rc_is 2 "$STEPFS_BIN" validate
it_check "unknown option exits 2" rc_is 2 "$STEPFS_BIN" validate --bogus good.json
it_check "stdin" sh -c "'$STEPFS_BIN' validate - <good.json | grep -qx -- '-: ok'"
it_check "--state checks one state" out_is "state.json: ok" "$STEPFS_BIN" validate --state state.json
it_check "--json OK" out_is '{"result":"OK","diagnostics":[]}' "$STEPFS_BIN" validate --json good.json
it_check "--json FAIL shape" sh -c "'$STEPFS_BIN' validate --json dangling.json | jq -e '
	.result == \"FAIL\" and (.diagnostics | length) == 2 and
	.diagnostics[0] == {severity: \"ERROR\", code: \"MISSING_TRANSITION_TARGET\",
		message: \"missing '\\''Next'\\'' target: no state is named '\\''Nope'\\''\",
		location: \"/States/A/Next\"}'"
it_check "--json syntax error" sh -c "'$STEPFS_BIN' validate --json syntax.json | jq -e '
	.result == \"FAIL\" and .diagnostics[0].code == \"INVALID_JSON_DESCRIPTION\" and
	(.diagnostics[0].message | startswith(\"line 4, column 3\"))'"
it_check "--json several files name each" sh -c "'$STEPFS_BIN' validate --json good.json dangling.json | jq -se '
	length == 2 and .[0].file == \"good.json\" and .[1].result == \"FAIL\"'"
it_check "help" sh -c "'$STEPFS_BIN' help validate | grep -q 'usage: stepfs validate'"

# every definition AWS accepted (every recorded row ran) must validate
conf=
for c in "${STEPFS_CONFORMANCE_DIR:-}" "$IT_TOP/../shared/conformance" "$IT_TOP/../../shared/conformance"; do
	[ -n "$c" ] && [ -f "$c/asl-aws-recorded.jsonl" ] && { conf=$c/asl-aws-recorded.jsonl; break; }
done
if [ -n "$conf" ] && command -v jq >/dev/null; then
	mkdir defs states
	jq -c 'select(.kind != "test_state") | .definition' "$conf" | sort -u | split -l 1 -a 4 - defs/d
	jq -c 'select(.kind == "test_state") | .definition' "$conf" | sort -u | split -l 1 -a 4 - states/s
	it_log "$(ls defs | wc -l) distinct definitions, $(ls states | wc -l) single states"
	it_check "conformance definitions all valid" "$STEPFS_BIN" validate --quiet defs/*
	it_check "conformance TestState states all valid" "$STEPFS_BIN" validate --quiet --state states/*
else
	it_log "conformance file or jq not found: conformance part skipped"
fi
it_done
