# tests/it/events_lib.sh: shared by events_local.sh and events_s3.sh (sourced
# after lib.sh). A real `stepfs mount -o config=FILE` on a backend; files
# written with several tools start exactly the expected executions, whose
# inputs are checked byte for byte against an independent rebuild of AWS's
# shapes (python3, from the rules in engine/event.h); files that match no
# rule start nothing; a task writing back into the mount is stopped by the
# loop guard; `stepfs executions` reads it all back.
#
# The caller sets SRC (the BUCKET argument of stepfs mount) and BUCKET (the
# bucket name events carry), then calls ev_run.

ev_setup() {
	W=$IT_DIR/wf
	RES=$IT_DIR/results
	M=$IT_DIR/mnt
	mkdir -p "$W" "$RES" "$M"
	# the task: record the execution's input, named after the execution
	cat >"$W/record.sh" <<'S'
#!/bin/sh
cat >"$RESULTS/$STEPFS_EXECUTION_NAME.json"
echo '{"recorded": true}'
S
	# the looping task: writes the next file into the mount (loop guard)
	cat >"$W/loop.sh" <<'S'
#!/bin/sh
in=$(cat)
n=$(printf '%s' "$in" | jq -r '.Records[0].s3.object.key' | sed 's/[^0-9]//g')
echo "x" >"$MNT/loop/$((n + 1)).txt"
echo '{}'
S
	chmod +x "$W/record.sh" "$W/loop.sh"
	cat >"$W/record.asl.json" <<'J'
{"StartAt": "Record", "States": {"Record": {"Type": "Task", "Resource": "exec:./record.sh", "End": true}}}
J
	cat >"$W/loop.asl.json" <<'J'
{"StartAt": "Loop", "States": {"Loop": {"Type": "Task", "Resource": "exec:./loop.sh", "End": true}}}
J
	cat >"$W/stepfs.json" <<J
{
  "Bucket": "$BUCKET",
  "Region": "eu-west-1",
  "Account": "123456789012",
  "Journal": "$IT_DIR/journal.db",
  "StateMachines": {
    "ingest": {"Definition": "record.asl.json", "Type": "STANDARD"},
    "thumbs": {"Definition": "record.asl.json", "Type": "EXPRESS"},
    "gone":   {"Definition": "record.asl.json", "Type": "EXPRESS"},
    "audit":  {"Definition": "record.asl.json", "Type": "EXPRESS"},
    "loop":   {"Definition": "loop.asl.json", "Type": "STANDARD"}
  },
  "NotificationConfiguration": {
    "StateMachineConfigurations": [
      {"Id": "csv", "StateMachine": "ingest", "Events": ["s3:ObjectCreated:*"],
       "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"},
                                          {"Name": "suffix", "Value": ".csv"}]}}},
      {"Id": "jpg", "StateMachine": "thumbs", "Events": ["s3:ObjectCreated:Put"],
       "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"},
                                          {"Name": "suffix", "Value": ".jpg"}]}},
       "EventFormat": "EventBridge"},
      {"Id": "del", "StateMachine": "gone", "Events": ["s3:ObjectRemoved:*"],
       "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}},
      {"Id": "loop", "StateMachine": "loop", "Events": ["s3:ObjectCreated:*"],
       "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "loop/"},
                                          {"Name": "suffix", "Value": ".txt"}]}}}
    ],
    "EventBridgeConfiguration": {}
  },
  "EventBridgeRules": [
    {"Name": "big", "EventPattern": {"detail-type": ["Object Created"],
       "detail": {"object": {"size": [{"numeric": [">=", 100000]}]}}},
     "Targets": [{"Id": "a", "StateMachine": "audit"}]}
  ],
  "Limits": {"MaxChainDepth": 3},
  "tasks": {"env": {"RESULTS": "$RES", "MNT": "$M"}}
}
J
}

# ev_count SM [STATUS]: executions of SM in the journal
ev_count() {
	"$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" --state-machine "$1" \
		${2:+--status-filter "$2"} --json | jq '.executions | length'
}

# ev_wait N: wait (30 s) until N executions exist and none is RUNNING
ev_wait() {
	local i n r
	for ((i = 0; i < 300; i++)); do
		n=$("$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" --json |
			jq '.executions | length')
		r=$("$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" \
			--status-filter RUNNING --json | jq '.executions | length')
		[ "$n" -ge "$1" ] && [ "$r" = 0 ] && return 0
		sleep 0.1
	done
	echo "# waited for $1 executions: $n, $r running"
	return 1
}

# ev_input KEY SM: the recorded input of SM's execution for KEY (S3 or EventBridge shape)
ev_input() {
	local enc f
	enc=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1], safe="/~"))' "$1")
	for f in "$RES"/*.json; do
		if jq -e --arg k "$enc" '(.Records[0].s3.object.key // .detail.object.key) == $k' "$f" \
			>/dev/null 2>&1; then
			"$STEPFS_BIN" executions describe --journal "$IT_DIR/journal.db" \
				"$(basename "$f" .json)" --json | jq -e --arg sm "$2" \
				'.stateMachineArn | endswith(":" + $sm)' >/dev/null && { cat "$f"; return 0; }
		fi
	done
	return 1
}

# ev_rebuild FILE: rebuild the AWS document from its own variable fields with
# an independent implementation (python3) and compare the bytes
ev_rebuild() {
	python3 - "$1" <<'PY'
import base64, hashlib, json, sys, urllib.parse
raw = open(sys.argv[1], 'rb').read().decode()
doc = json.loads(raw)
def h(*p):
    return hashlib.sha256(b''.join(x.encode() + b'\0' for x in p)).hexdigest()
if 'Records' in doc:
    r = doc['Records'][0]; o = r['s3']['object']; b = r['s3']['bucket']['name']
    key = urllib.parse.unquote_plus(o['key']); seq = o['sequencer']
    acct = r['userIdentity']['principalId']
    obj = {'key': urllib.parse.quote_plus(key, safe='/~')}
    if not r['eventName'].startswith('ObjectRemoved'):
        obj['size'] = o['size']; obj['eTag'] = o['eTag']
    obj['sequencer'] = seq
    rec = {'eventVersion': '2.1', 'eventSource': 'aws:s3', 'awsRegion': r['awsRegion'],
           'eventTime': r['eventTime'], 'eventName': r['eventName'],
           'userIdentity': {'principalId': acct},
           'requestParameters': {'sourceIPAddress': '127.0.0.1'},
           'responseElements': {'x-amz-request-id': h('x-amz-request-id', b, key, seq)[:16].upper(),
                                'x-amz-id-2': base64.b64encode(bytes.fromhex(h('x-amz-id-2', b, key, seq))).decode()},
           's3': {'s3SchemaVersion': '1.0', 'configurationId': r['s3']['configurationId'],
                  'bucket': {'name': b, 'ownerIdentity': {'principalId': acct}, 'arn': 'arn:aws:s3:::' + b},
                  'object': obj}}
    if 'stepfs' in r:
        rec['stepfs'] = r['stepfs']
    want = {'Records': [rec]}
else:
    d = doc['detail']; o = d['object']; b = d['bucket']['name']
    key = urllib.parse.unquote_plus(o['key']); seq = o['sequencer']
    u = h('eventbridge-id', b, key, seq)
    uuid = '%s-%s-4%s-%s%s-%s' % (u[0:8], u[8:12], u[12:15], '89ab'[int(u[15], 16) & 3], u[16:19], u[19:31])
    obj = {'key': urllib.parse.quote_plus(key, safe='/~'), 'size': o['size'], 'etag': o['etag'], 'sequencer': seq}
    det = {'version': '0', 'bucket': {'name': b}, 'object': obj,
           'request-id': h('x-amz-request-id', b, key, seq)[:16].upper(),
           'requester': doc['account'], 'source-ip-address': '127.0.0.1', 'reason': 'PutObject'}
    if 'stepfs' in d:
        det['stepfs'] = d['stepfs']
    want = {'version': '0', 'id': uuid, 'detail-type': 'Object Created', 'source': 'aws.s3',
            'account': doc['account'], 'time': doc['time'], 'region': doc['region'],
            'resources': ['arn:aws:s3:::' + b], 'detail': det}
got = raw.strip()
exp = json.dumps(want, separators=(',', ':'), ensure_ascii=False)
if got != exp:
    print('got:      ' + got); print('expected: ' + exp); sys.exit(1)
PY
}

ev_run() {
	ev_setup
	it_check "config validates (stepfs mount refuses bad ones early)" true
	it_mount "$SRC" "$M" -o "config=$W/stepfs.json,spool=$IT_DIR/spool" || { it_done; exit 1; }
	cd "$M"
	# mkdir makes "dir/" marker objects: ObjectCreated:Put events that match no rule here
	mkdir -p incoming images other tmp loop
	# matching files, written by different tools
	it_check "echo > incoming/a.csv" bash -c 'echo "a,b" > incoming/a.csv'
	it_check "cp incoming/red flower=1.csv" cp "$W/stepfs.json" "incoming/red flower=1.csv"
	it_check "dd incoming/big.csv (200 KB)" dd if=/dev/urandom of=incoming/big.csv bs=100k count=2 status=none
	it_check "python writes incoming/ünï+code.csv" python3 -c 'open("incoming/\u00fcn\u00ef+code.csv", "w").write("x\n")'
	it_check "tee incoming/t.csv" bash -c 'echo tee | tee incoming/t.csv >/dev/null'
	it_check "a key with a newline and shell metacharacters" python3 -c 'open("incoming/$(touch pwned);`id`\nb.csv", "w").write("x\n")'
	it_check "mv tmp/r -> incoming/renamed.csv (ObjectCreated:Copy)" bash -c 'echo r > tmp/r && mv tmp/r incoming/renamed.csv'
	it_check "cp images/cat.jpg" cp "$W/record.sh" images/cat.jpg
	# not matching: wrong suffix, wrong prefix, wrong case, a directory
	it_check "non-matching files" bash -c 'echo x > incoming/a.txt; echo x > other/b.csv; echo x > images/a.JPG; echo x > INCOMING.csv; mkdir incoming/sub'
	it_check "rm incoming/a.txt (ObjectRemoved:Delete)" rm incoming/a.txt
	# a name in Latin-1 (not UTF-8) can be neither an S3 key nor an event:
	# creating it fails at once with EILSEQ, instead of at close()
	it_check "a name that is not UTF-8 is refused with EILSEQ (create, mkdir, rename)" \
		python3 -c 'import errno, os
for op in (lambda: open(b"other/caf\xe9.txt", "wb"), lambda: os.mkdir(b"other/d\xe9j\xe0"),
           lambda: os.rename(b"other/b.csv", b"other/\xff.csv")):
    try:
        op()
    except OSError as e:
        assert e.errno == errno.EILSEQ, e
    else:
        raise SystemExit("not refused")
assert os.listdir(b"other") == [b"b.csv"], os.listdir(b"other")'
	# expected: ingest 7 (a, red flower=1, big, ünï+code, t, the metacharacters,
	# renamed), thumbs 1, gone 1 (a.txt), audit 1 (big.csv >= 100000 bytes)
	it_check "all executions ended" ev_wait 10
	cd /
	it_check_eq "ingest: 7 SUCCEEDED" 7 "$(ev_count ingest SUCCEEDED)"
	it_check_eq "thumbs: 1 SUCCEEDED" 1 "$(ev_count thumbs SUCCEEDED)"
	it_check_eq "gone: 1 SUCCEEDED" 1 "$(ev_count gone SUCCEEDED)"
	it_check_eq "audit: 1 (EventBridge fan-out, size >= 100000)" 1 "$(ev_count audit SUCCEEDED)"
	it_check_eq "no other executions" 10 "$("$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" --json | jq '.executions | length')"

	local f
	f=$IT_DIR/in.json
	ev_input "incoming/red flower=1.csv" ingest >"$f"
	it_check_eq "S3 key encoded as AWS does (space +, = %3D)" "incoming/red+flower%3D1.csv" "$(jq -r '.Records[0].s3.object.key' "$f")"
	it_check_eq "S3 eventName" "ObjectCreated:Put" "$(jq -r '.Records[0].eventName' "$f")"
	it_check_eq "S3 configurationId is the rule Id" csv "$(jq -r '.Records[0].s3.configurationId' "$f")"
	it_check_eq "S3 size" "$(stat -c %s "$W/stepfs.json")" "$(jq -r '.Records[0].s3.object.size' "$f")"
	it_check_eq "local path in the mount" "$M/incoming/red flower=1.csv" "$(jq -r '.Records[0].stepfs.localPath' "$f")"
	it_check "the task can read the object through localPath" cmp "$W/stepfs.json" "$(jq -r '.Records[0].stepfs.localPath' "$f")"
	it_check "S3 input byte-exact (independent rebuild)" ev_rebuild "$f"
	ev_input "incoming/ünï+code.csv" ingest >"$f"
	it_check_eq "UTF-8 and + encoded" "incoming/%C3%BCn%C3%AF%2Bcode.csv" "$(jq -r '.Records[0].s3.object.key' "$f")"
	it_check "byte-exact (unicode)" ev_rebuild "$f"
	ev_input $'incoming/$(touch pwned);`id`\nb.csv' ingest >"$f"
	it_check_eq "newline and metacharacters encoded" 'incoming/%24%28touch+pwned%29%3B%60id%60%0Ab.csv' "$(jq -r '.Records[0].s3.object.key' "$f")"
	it_check "byte-exact (metacharacters)" ev_rebuild "$f"
	it_check "no shell ever ran the key" bash -c "! find '$IT_DIR' -name pwned | grep -q ."
	ev_input "incoming/renamed.csv" ingest >"$f"
	it_check_eq "rename is ObjectCreated:Copy" "ObjectCreated:Copy" "$(jq -r '.Records[0].eventName' "$f")"
	ev_input "images/cat.jpg" thumbs >"$f"
	it_check_eq "EventBridge shape" "Object Created" "$(jq -r '."detail-type"' "$f")"
	it_check_eq "EventBridge region/account" "eu-west-1/123456789012" "$(jq -r '.region + "/" + .account' "$f")"
	it_check "EventBridge input byte-exact (independent rebuild)" ev_rebuild "$f"
	ev_input "incoming/a.txt" gone >"$f"
	it_check_eq "delete event" "ObjectRemoved:Delete" "$(jq -r '.Records[0].eventName' "$f")"
	it_check_eq "delete carries no size" null "$(jq -r '.Records[0].s3.object.size' "$f")"

	# sequencers of one key grow: overwrite a.csv twice more
	echo 2 >"$M/incoming/a.csv"
	echo 3 >"$M/incoming/a.csv"
	it_check "overwrites start executions" ev_wait 12
	it_check "per-key sequencers increase" bash -c "
		for f in '$RES'/*.json; do jq -r 'select(.Records[0].s3.object.key == \"incoming/a.csv\") | .Records[0].s3.object.sequencer' \"\$f\"; done |
		sort | uniq | wc -l | grep -qx 3"

	# loop guard: loop/0.txt -> task writes loop/1.txt -> ... stopped at depth 3
	echo 0 >"$M/loop/0.txt"
	it_check "loop: executions end" ev_wait 16
	sleep 0.5
	it_check_eq "loop guard: depth 0..3 ran, 4 stopped" 4 "$(ev_count loop)"
	it_check "loop/4.txt was written (the write itself is allowed)" test -f "$M/loop/4.txt"
	it_check "loop guard logged once" grep -q "loop guard: 'loop/4.txt' was written by a task of" "$IT_DIR"/mount-*.log
	it_check_eq "the chain depth is recorded" 3 "$("$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" --state-machine loop --max-items 1 --json | jq -r '.executions[0].name' | xargs "$STEPFS_BIN" executions describe --journal "$IT_DIR/journal.db" --json | jq .chainDepth)"

	# CLI: history of a Standard execution, in AWS's vocabulary
	local name
	name=$("$STEPFS_BIN" executions list --journal "$IT_DIR/journal.db" --state-machine ingest --max-items 1 --json | jq -r '.executions[0].name')
	it_check_eq "history: ExecutionStarted first" ExecutionStarted "$("$STEPFS_BIN" executions history --journal "$IT_DIR/journal.db" "$name" --json | jq -r '.events[0].type')"
	it_check_eq "history: ExecutionSucceeded last" ExecutionSucceeded "$("$STEPFS_BIN" executions history --journal "$IT_DIR/journal.db" "$name" --json | jq -r '.events[-1].type')"
	it_check "history table" bash -c "'$STEPFS_BIN' executions history --journal '$IT_DIR/journal.db' '$name' | grep -q TaskSucceeded"
	it_check "list table" bash -c "'$STEPFS_BIN' executions list --journal '$IT_DIR/journal.db' | grep -q SUCCEEDED"
	it_check "executions describe output" bash -c "'$STEPFS_BIN' executions describe --journal '$IT_DIR/journal.db' '$name' --json | jq -e '.output == \"{\\\"recorded\\\":true}\"'"

	# a second daemon on the same journal is refused with a clear message
	mkdir -p "$IT_DIR/mnt2"
	it_check "second mount on the same journal refused" bash -c "! '$STEPFS_BIN' mount '$SRC' '$IT_DIR/mnt2' -f -o 'config=$W/stepfs.json' 2>'$IT_DIR/m2.log'"
	it_check "... naming the journal" grep -q "in use by another stepfs daemon" "$IT_DIR/m2.log"
	it_umount "$M"
}
