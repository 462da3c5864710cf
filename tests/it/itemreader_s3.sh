#!/usr/bin/env bash
# tests/it/itemreader_s3.sh: Distributed Map ItemReader/ResultWriter against
# the real Ceph RGW (tests/servers/up.sh). A CSV put with awscli is read by
# `stepfs run --config` whose "Buckets" names s3://BUCKET/PREFIX, each row
# goes through a real task program, and the ResultWriter's manifest.json and
# SUCCEEDED_0.json are read back with awscli; listObjectsV2 lists what
# awscli put (keys, sizes, ETags); a missing key is States.ItemReaderFailed.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq
D=$IT_DIR
P=${IT_PREFIX}ir
printf 'name,qty\r\n"Smith, J",2\r\nplain,4\r\n' >"$D/rows.csv"
it_check "put the CSV with awscli" it_s3_put "$P/in/rows.csv" "$D/rows.csv"
cat >"$D/double.sh" <<'S'
#!/bin/sh
exec jq -c '{name: .name, double: ((.qty | tonumber) * 2)}'
S
chmod +x "$D/double.sh"
cat >"$D/config.json" <<J
{"Buckets": {"rgw": "s3://$IT_BUCKET/$P"}}
J
cat >"$D/csv.asl.json" <<'J'
{"StartAt": "Rows", "States": {"Rows": {"Type": "Map",
  "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                 "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                 "Parameters": {"Bucket": "rgw", "Key.$": "$.key"}},
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "Double", "States": {"Double": {"Type": "Task", "Resource": "exec:./double.sh", "End": true}}},
  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                   "Parameters": {"Bucket": "rgw", "Prefix": "results"}},
  "End": true}}}
J
run() {
	AWS_ACCESS_KEY_ID="$IT_AK" AWS_SECRET_ACCESS_KEY="$IT_SK" AWS_REGION="$IT_REGION" \
		AWS_ENDPOINT_URL_S3="$IT_ENDPOINT" AWS_CONFIG_FILE="$IT_DIR/.aws/config" \
		AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
		"$STEPFS_BIN" run "$@" --config "$D/config.json" --wait-scale 0
}
out=$(run "$D/csv.asl.json" --input '{"key": "in/rows.csv"}') || true
key=$(jq -r '.ResultWriterDetails.Key // empty' <<<"$out")
it_check "ResultWriter names results/<run>/manifest.json" \
	grep -Eq '^results/[0-9a-f-]{36}/manifest\.json$' <<<"$key"
it_check "manifest.json is in the bucket (awscli)" it_s3_get "$P/$key" "$D/manifest.json"
s=$(jq -r '.ResultFiles.SUCCEEDED[0].Key' "$D/manifest.json" 2>/dev/null)
it_check "SUCCEEDED_0.json is in the bucket (awscli)" it_s3_get "$P/$s" "$D/succ.json"
it_check_eq "rows processed" '[{"double":4,"name":"Smith, J"},{"double":8,"name":"plain"}]' \
	"$(jq -cS '[.[].Output | fromjson]' "$D/succ.json" 2>/dev/null)"

cat >"$D/list.asl.json" <<'J'
{"StartAt": "L", "States": {"L": {"Type": "Map",
  "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "rgw", "Prefix": "in/"}},
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
    "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}
J
out=$(run "$D/list.asl.json") || true
etag=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "$P/in/rows.csv" | jq -r .ETag)
it_check_eq "listObjectsV2: key, size and ETag as the server has them" \
	"in/rows.csv $(stat -c %s "$D/rows.csv") $etag" \
	"$(jq -r '.[0] | "\(.Key) \(.Size) \(.Etag)"' <<<"$out")"

err=$(run "$D/csv.asl.json" --input '{"key": "in/none.csv"}' 2>&1 >/dev/null) || true
it_check "missing key: States.ItemReaderFailed naming it" \
	grep -q "key 'in/none.csv'" <<<"$err"
it_done
