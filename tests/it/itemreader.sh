#!/usr/bin/env bash
# tests/it/itemreader.sh: Distributed Map ItemReader and ResultWriter on real
# local-directory buckets (fs/localstore.c through fs/bucketmap.c).
#  1. stepfs run --config with "Buckets": a CSV object read (quoted fields,
#     CRLF), each row processed by a real task program, the results written
#     back by the ResultWriter and read from the directory (manifest.json,
#     SUCCEEDED_0.json); listObjectsV2 over a prefix; JSONL; the errors for a
#     missing key, an unknown bucket and an object over the size limit.
#  2. stepfs mount -o config=: a CSV copied into the mount starts a workflow
#     whose Distributed Map reads that very object from the mounted bucket
#     (by the config's "Bucket" name) and writes its results back into it.
set -e
. "$(dirname "$0")/lib.sh"
it_need_cmd jq
D=$IT_DIR
B=$D/bucket
mkdir -p "$B/in" "$B/logs"
printf 'name,qty\r\n"Smith, J",2\r\n"say ""hi""",3\r\nplain,4\r\n' >"$B/in/rows.csv"
printf '{"n":1}\n{"n":2}\n\n{"n":3}\n' >"$B/in/rows.jsonl"
echo a >"$B/logs/a.txt"
echo bb >"$B/logs/b.txt"
cat >"$D/double.sh" <<'S'
#!/bin/sh
# a real task program: {"name", "double"} from a CSV row
exec jq -c '{name: .name, double: ((.qty | tonumber) * 2)}'
S
chmod +x "$D/double.sh"
cat >"$D/config.json" <<'J'
{"Buckets": {"data": "bucket"}}
J
cat >"$D/csv.asl.json" <<'J'
{"StartAt": "Rows", "States": {"Rows": {"Type": "Map", "Label": "rows",
  "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                 "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                 "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"}},
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "Double", "States": {"Double": {"Type": "Task", "Resource": "exec:./double.sh", "End": true}}},
  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                   "Parameters": {"Bucket": "data", "Prefix": "results"}},
  "End": true}}}
J
run() { "$STEPFS_BIN" run "$@" --config "$D/config.json" --wait-scale 0; }

# 1. CSV -> task -> ResultWriter, through stepfs run
out=$(run "$D/csv.asl.json" --input '{"bucket": "data", "key": "in/rows.csv"}')
key=$(jq -r .ResultWriterDetails.Key <<<"$out")
it_check_eq "output names the bucket" data "$(jq -r .ResultWriterDetails.Bucket <<<"$out")"
it_check "manifest key is results/<run>/manifest.json" \
	grep -Eq '^results/[0-9a-f-]{36}/manifest\.json$' <<<"$key"
it_check "MapRunArn carries the Label" grep -q ':mapRun:csv/rows:' <<<"$(jq -r .MapRunArn <<<"$out")"
it_check "manifest.json was written into the bucket" test -f "$B/$key"
succ=$(jq -r '.ResultFiles.SUCCEEDED[0].Key' "$B/$key")
it_check_eq "manifest lists SUCCEEDED_0.json" "$(dirname "$key")/SUCCEEDED_0.json" "$succ"
it_check_eq "manifest size is the file's" "$(stat -c %s "$B/$succ")" \
	"$(jq -r '.ResultFiles.SUCCEEDED[0].Size' "$B/$key")"
it_check_eq "no FAILED file" 0 "$(jq '.ResultFiles.FAILED | length' "$B/$key")"
it_check_eq "each row went through the task (quotes, comma, CRLF)" \
	'[{"double":4,"name":"Smith, J"},{"double":6,"name":"say \"hi\""},{"double":8,"name":"plain"}]' \
	"$(jq -cS '[.[].Output | fromjson]' "$B/$succ")"
it_check_eq "records say SUCCEEDED with their input" \
	'SUCCEEDED {"name":"Smith, J","qty":"2"}' \
	"$(jq -r '.[0] | "\(.Status) \(.Input)"' "$B/$succ")"

# listObjectsV2 with a prefix, and JSONL with MaxItems
cat >"$D/list.asl.json" <<'J'
{"StartAt": "L", "States": {"L": {"Type": "Map",
  "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "data", "Prefix": "logs/"}},
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
    "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}
J
out=$(run "$D/list.asl.json")
it_check_eq "listObjectsV2: keys and sizes under the prefix" \
	'[{"Key":"logs/a.txt","Size":2},{"Key":"logs/b.txt","Size":3}]' "$(jq -c '[.[] | {Key, Size}]' <<<"$out")"
it_check_eq "listObjectsV2: ETag quoted MD5, StorageClass, LastModified" \
	"\"$(md5sum <"$B/logs/a.txt" | cut -d' ' -f1)\" STANDARD number" \
	"$(jq -r '.[0] | "\(.Etag) \(.StorageClass) \(.LastModified | type)"' <<<"$out")"
sed -e 's|"CSV", "CSVHeaderLocation": "FIRST_ROW"|"JSONL", "MaxItems": 2|' -e 's|exec:./double.sh|exec:/bin/cat|' \
	-e '/ResultWriter/,+1d' -e 's|"Label": "rows",||' "$D/csv.asl.json" >"$D/jsonl.asl.json"
out=$(run "$D/jsonl.asl.json" --input '{"bucket": "data", "key": "in/rows.jsonl"}')
it_check_eq "JSONL with MaxItems 2" '[{"n":1},{"n":2}]' "$(jq -c . <<<"$out")"

# errors
err=$(run "$D/csv.asl.json" --input '{"bucket": "data", "key": "in/none.csv"}' 2>&1 >/dev/null) || true
it_check "missing key: States.ItemReaderFailed" grep -q 'error: States.ItemReaderFailed' <<<"$err"
it_check "missing key: the cause names bucket and key" grep -q "bucket 'data' key 'in/none.csv'" <<<"$err"
err=$(run "$D/csv.asl.json" --input '{"bucket": "elsewhere", "key": "x"}' 2>&1 >/dev/null) || true
it_check "unknown bucket: the cause names it and the known ones" \
	grep -q "bucket 'elsewhere' is not available here.*'data'" <<<"$err"
truncate -s 17M "$B/in/big.csv"
err=$(run "$D/csv.asl.json" --input '{"bucket": "data", "key": "in/big.csv"}' 2>&1 >/dev/null) || true
it_check "too large: States.ItemReaderFailed naming the limit" \
	grep -q 'more than the ItemReader limit of 16777216 bytes' <<<"$err"
cat >"$D/config2.json" <<'J'
{"Buckets": {"data": "bucket"}, "Limits": {"ItemReaderMaxMiB": 1}}
J
head -c 1100000 /dev/zero | tr '\0' 'a' >"$B/in/mid.csv"
err=$("$STEPFS_BIN" run "$D/csv.asl.json" --config "$D/config2.json" \
	--input '{"bucket": "data", "key": "in/mid.csv"}' 2>&1 >/dev/null) || true
it_check "Limits.ItemReaderMaxMiB 1: a 1.1 MB object is refused" \
	grep -q 'more than the ItemReader limit of 1048576 bytes' <<<"$err"
rm -f "$B/in/mid.csv"
rm -f "$B/in/big.csv"

# 2. a rule fires on a CSV copied into the mount; the Map reads that object
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	M=$D/mnt
	mkdir -p "$D/wf"
	cp "$D/double.sh" "$D/wf/"
	jq '.States.Rows.ItemReader.Parameters = {"Bucket.$": "$.Records[0].s3.bucket.name",
	                                         "Key.$": "$.Records[0].s3.object.key"}
	    | .States.Rows.ResultWriter.Parameters = {"Bucket": "photos", "Prefix": "out/"}' \
		"$D/csv.asl.json" >"$D/wf/fanout.asl.json"
	cat >"$D/wf/stepfs.json" <<J
{"Bucket": "photos", "Journal": "$D/journal.db",
 "StateMachines": {"fanout": {"Definition": "fanout.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "csv", "StateMachine": "fanout", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "drop/"}, {"Name": "suffix", "Value": ".csv"}]}}}]}}
J
	mkdir -p "$D/mb"
	it_mount "$D/mb" "$M" -o "config=$D/wf/stepfs.json,spool=$D/spool" || { it_done; exit 1; }
	mkdir -p "$M/drop"
	cp "$B/in/rows.csv" "$M/drop/rows.csv"
	man=
	for _ in $(seq 1 100); do
		man=$(ls "$D/mb"/out/*/manifest.json 2>/dev/null | head -1)
		[ -n "$man" ] && break
		sleep 0.1
	done
	it_check "mount: the workflow wrote out/<run>/manifest.json into the bucket" test -n "$man"
	if [ -n "$man" ]; then
		s=$(jq -r '.ResultFiles.SUCCEEDED[0].Key' "$man")
		it_check_eq "mount: the rows of the dropped object, processed" \
			'["Smith, J","say \"hi\"","plain"]' "$(jq -c '[.[].Output | fromjson | .name]' "$D/mb/$s")"
		it_check "mount: results visible through the mount" test -f "$M/$s"
	fi
	for _ in $(seq 1 50); do
		"$STEPFS_BIN" executions list --config "$D/wf/stepfs.json" --json >"$D/ex.json" 2>&1 || true
		grep -q SUCCEEDED "$D/ex.json" && break
		sleep 0.1
	done
	it_check_eq "mount: one execution, SUCCEEDED" SUCCEEDED "$(jq -r '.executions[0].status' "$D/ex.json")"
	name=$(jq -r '.executions[0].name' "$D/ex.json")
	"$STEPFS_BIN" executions history "$name" --config "$D/wf/stepfs.json" --json >"$D/h.json" 2>&1 || true
	it_check_eq "mount: history has the Map Run" "MapRunStarted MapRunSucceeded" \
		"$(jq -r '[.events[].type | select(startswith("MapRun"))] | join(" ")' "$D/h.json")"
else
	echo "# no /dev/fuse: the mount half is skipped"
fi

# 3. stepfs watch --upload: the upload bucket is served under the config's name
UPB=$D/upbucket
DROP=$D/drop
mkdir -p "$UPB" "$DROP" "$D/wf3"
cp "$D/double.sh" "$D/wf3/"
jq '.States.Rows.ItemReader.Parameters = {"Bucket.$": "$.Records[0].s3.bucket.name",
                                         "Key.$": "$.Records[0].s3.object.key"}
    | .States.Rows.ResultWriter.Parameters = {"Bucket": "sync", "Prefix": "out"}' \
	"$D/csv.asl.json" >"$D/wf3/fanout.asl.json"
cat >"$D/wf3/stepfs.json" <<J
{"Bucket": "sync", "Journal": "$D/journal3.db",
 "StateMachines": {"fanout": {"Definition": "fanout.asl.json", "Type": "STANDARD"}},
 "NotificationConfiguration": {"StateMachineConfigurations": [
   {"Id": "csv", "StateMachine": "fanout", "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}}}]}}
J
"$STEPFS_BIN" watch "$DROP" --config "$D/wf3/stepfs.json" --quiet-ms 100 --upload "$UPB" \
	>"$D/watch.log" 2>&1 &
W_PID=$!
it_defer '[ -n "$W_PID" ] && { kill -TERM "$W_PID"; wait "$W_PID"; }'
sleep 0.5
cp "$B/in/rows.csv" "$DROP/w.csv"
man=
for _ in $(seq 1 100); do
	man=$(ls "$UPB"/out/*/manifest.json 2>/dev/null | head -1)
	[ -n "$man" ] && break
	sleep 0.1
done
it_check "watch --upload: the workflow read the uploaded object and wrote its manifest" test -n "$man"
if [ -n "$man" ]; then
	s=$(jq -r '.ResultFiles.SUCCEEDED[0].Key' "$man")
	it_check_eq "watch --upload: rows processed" 3 "$(jq length "$UPB/$s")"
else
	sed 's/^/#   /' "$D/watch.log"
fi
kill -TERM "$W_PID" 2>/dev/null || true
wait "$W_PID" 2>/dev/null || true
W_PID=
it_done
