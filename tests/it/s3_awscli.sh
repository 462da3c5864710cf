#!/usr/bin/env bash
# tests/it/s3_awscli.sh: cross-checks with awscli on the real Ceph RGW. What
# the stepfs S3 client writes (single PUT, parallel multipart, copy with
# replaced metadata; awkward keys), `aws s3api get-object / head-object` reads
# back byte for byte with its metadata and content type; what awscli writes
# (put-object with metadata, `aws s3 cp` multipart), the stepfs client reads
# back byte for byte with its metadata, and lists.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq cmp
CLI=$(it_need_helper helper_s3cli)
cd "$IT_DIR"
P=$IT_PREFIX
OPTS=$(jq -cn --arg e "$IT_ENDPOINT" --arg r "$IT_REGION" '{endpoint: $e, region: $r}')
s3() { AWS_ACCESS_KEY_ID=$IT_AK AWS_SECRET_ACCESS_KEY=$IT_SK "$CLI" -o "$OPTS" "s3://$IT_BUCKET" "$@"; }

head -c 3000 /dev/urandom >small
head -c 23000000 /dev/urandom >big
KEYS=("${P}plain" "${P}with space" "${P}plus+sign" "${P}pct%41" "$(printf '%sünï/çødé☃' "$P")"
	"${P}a&b=c?d" "$(printf '%snew\nline' "$P")")

# 1. we write, awscli reads
for k in "${KEYS[@]}"; do
	it_check "stepfs put '$k'" s3 put "$k" small --meta color=blue --meta mode=0644 \
		--content-type application/x-stepfs
	rm -f got
	it_s3_get "$k" got || true
	it_same_file "aws get-object reads '$k' byte-exact" small got
	j=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "$k" || echo '{}')
	it_check_eq "aws head-object sees metadata of '$k'" "blue 0644 application/x-stepfs 3000" \
		"$(jq -r '[.Metadata.color, .Metadata.mode, .ContentType, (.ContentLength|tostring)] | join(" ")' <<<"$j")"
done
it_check "stepfs multipart put (23 MB, 4 parallel 5 MiB parts)" \
	s3 putfile "${P}mp big" big --part-size 5242880 --parallel 4 --meta origin=stepfs
rm -f got
it_s3_get "${P}mp big" got || true
it_same_file "aws reads our multipart object byte-exact" big got
j=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "${P}mp big")
it_check_eq "aws sees the multipart ETag and metadata" "-5 stepfs" \
	"$(jq -r '(.ETag | capture("(?<p>-[0-9]+)\"$").p) + " " + .Metadata.origin' <<<"$j")"
s3 copy "${KEYS[1]}" "${P}copied" --meta color=red --content-type text/plain >/dev/null
j=$(aws_s3api head-object --bucket "$IT_BUCKET" --key "${P}copied")
it_check_eq "aws sees metadata replaced by our copy" "red text/plain null" \
	"$(jq -r '[.Metadata.color, .ContentType, (.Metadata.mode|tostring)] | join(" ")' <<<"$j")"

# 2. awscli writes, we read
for k in "${KEYS[@]}"; do
	it_check "aws put-object '$k'" it_s3_put "$k.aws" small --metadata shape=round,size=xl \
		--content-type text/x-aws
	rm -f got
	s3 getone "$k.aws" got >/dev/null 2>&1 || true
	it_same_file "stepfs reads aws's '$k' byte-exact" small got
	j=$(s3 head "$k.aws" || echo '{}')
	it_check_eq "stepfs head sees aws's metadata on '$k'" "round xl text/x-aws 3000" \
		"$(jq -r '[.meta.shape, .meta.size, .content_type, (.size|tostring)] | join(" ")' <<<"$j")"
done
it_check "aws s3 cp uploads 23 MB (multipart)" aws_s3 cp --only-show-errors big "s3://$IT_BUCKET/${P}aws big"
rm -f got
it_check "stepfs parallel get of aws's multipart object" \
	s3 get "${P}aws big" got --part-size 4194304 --parallel 4
it_same_file "byte-exact" big got
out=$(s3 list --prefix "$P" --all)
n=$(jq -s '[.[] | select(.key)] | length' <<<"$out")
it_check_eq "stepfs lists every object both wrote" $((2 * ${#KEYS[@]} + 3)) "$n"
aws_keys=$(aws_s3api list-objects-v2 --bucket "$IT_BUCKET" --prefix "$P" | jq -c '[.Contents[].Key] | sort')
our_keys=$(jq -s -c '[.[] | select(.key) | .key] | sort' <<<"$out")
it_check_eq "same key set as aws list-objects-v2" "$aws_keys" "$our_keys"

# clean up (base64 carries keys with newlines through the shell)
s3 list --prefix "$P" --all | jq -r 'select(.key) | .key | @base64' | while read -r b; do
	s3 del "$(base64 -d <<<"$b")" >/dev/null
done
it_check_eq "cleaned up" 0 "$(s3 list --prefix "$P" --all | jq -s '[.[] | select(.key)] | length')"
it_done
