#!/usr/bin/env bash
# tests/it/s3_errors.sh: wrong credentials, missing bucket, server down,
# unresolvable host, TLS against a plain-HTTP port, clock skew and denied
# access give clear, specific errors from the S3 client (through
# tests/helper_s3cli) and from `stepfs check`; retries are bounded in count
# and in time; the AWS CLI credential chain (profiles, credential_process)
# works against the real Ceph RGW.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd jq
CLI=$(it_need_helper helper_s3cli)
cd "$IT_DIR"
P=${IT_PREFIX%/}
EP=$IT_ENDPOINT
echo hello >f
ST_EDENIED=13 ST_ESIGNATURE=14 ST_ECLOCKSKEW=15 ST_ERESOLVE=17 ST_ECONNECT=18 ST_ETLS=20
ST_ENOBUCKET=12 ST_ECREDS=27

# run AK SK OPTS ARGS...: the helper with these credentials only (no ~/.aws)
run() {
	local ak=$1 sk=$2 o=$3
	shift 3
	env -u AWS_PROFILE AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" \
		AWS_CONFIG_FILE="$IT_DIR/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
		"$CLI" -o "$o" "$@"
}
opts() { jq -cn --arg e "$1" "{endpoint: \$e} + ${2:-{\}}"; }
expect() { # DESC STATUS REGEX CMD...: exit status and stderr text
	local d=$1 want=$2 re=$3 rc=0
	shift 3
	"$@" >out 2>err || rc=$?
	it_check_eq "$d: exit status" "$want" "$rc"
	it_check "$d: message" grep -qE "$re" err
}
no_secret() { # the secret never shows up in a message
	it_check "$1: no secret in the message" it_not grep -qF "$IT_SK" err
}

# --- the happy path first
it_check "valid credentials work" run "$IT_AK" "$IT_SK" "$(opts "$EP")" "s3://$IT_BUCKET/$P" put k f

# --- wrong secret: a signature error, not retried, named as such
expect "wrong secret" $ST_ESIGNATURE "SignatureDoesNotMatch.*check the secret key" \
	run "$IT_AK" wrong-secret "$(opts "$EP")" "s3://$IT_BUCKET/$P" put k f
it_check "wrong secret: not retried" it_not grep -q "attempts" err
expect "wrong secret on HEAD (no body: diagnosed with a GET)" $ST_ESIGNATURE "SignatureDoesNotMatch" \
	run "$IT_AK" wrong-secret "$(opts "$EP")" "s3://$IT_BUCKET/$P" head k
expect "unknown access key" $ST_ESIGNATURE "InvalidAccessKeyId" \
	run NOSUCHKEY0000000000 "$IT_SK" "$(opts "$EP")" "s3://$IT_BUCKET/$P" put k f
no_secret "unknown access key"

# --- missing bucket
expect "no such bucket" $ST_ENOBUCKET "s3://stepfs-no-such-bucket.*NoSuchBucket" \
	run "$IT_AK" "$IT_SK" "$(opts "$EP")" "s3://stepfs-no-such-bucket/$P" list

# --- server down: bounded retries, then a clear error
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(date +%s%N)
expect "server down" $ST_ECONNECT "cannot connect to server.*127.0.0.1.*gave up after 4 attempts" \
	run "$IT_AK" "$IT_SK" "$(opts "http://127.0.0.1:$port" '{retries: 3, retry_base_ms: 100}')" \
	"s3://$IT_BUCKET/$P" put k f
ms=$((($(date +%s%N) - t0) / 1000000))
it_check "server down: gave up within 3 s (took ${ms} ms)" test "$ms" -lt 3000
t0=$(date +%s%N)
expect "server down, time budget" $ST_ECONNECT "gave up after" \
	run "$IT_AK" "$IT_SK" \
	"$(opts "http://127.0.0.1:$port" '{retries: 100, retry_base_ms: 200, retry_max_ms: 400, retry_total_ms: 1500}')" \
	"s3://$IT_BUCKET/$P" head k
ms=$((($(date +%s%N) - t0) / 1000000))
it_check "retry_total_ms bounds the time (took ${ms} ms)" test "$ms" -lt 3000

# --- DNS, TLS, clock skew
expect "unresolvable host" $ST_ERESOLVE "cannot resolve host name.*no-such-host.invalid" \
	run "$IT_AK" "$IT_SK" "$(opts "http://no-such-host.invalid:9" '{retries: 0, path_style: true}')" \
	"s3://$IT_BUCKET/$P" head k
expect "TLS to a plain-HTTP port" $ST_ETLS "TLS" \
	run "$IT_AK" "$IT_SK" "$(opts "${EP/http:/https:}" '{retries: 0}')" "s3://$IT_BUCKET/$P" head k
expect "clock skew (simulated with clock_offset_s)" $ST_ECLOCKSKEW "RequestTimeTooSkewed.*clock" \
	run "$IT_AK" "$IT_SK" "$(opts "$EP" '{clock_offset_s: 7200}')" "s3://$IT_BUCKET/$P" put k f
it_check "clock_offset_s corrects a skew" \
	run "$IT_AK" "$IT_SK" "$(opts "$EP" '{clock_offset_s: 60}')" "s3://$IT_BUCKET/$P" put k f

# --- HTTPS: the system CAs reject a self-signed server; ca_bundle trusts it
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 1 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
	tport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	openssl s_server -accept "127.0.0.1:$tport" -cert tls.crt -key tls.key -www -quiet \
		</dev/null >/dev/null 2>&1 &
	tpid=$!
	for ((i = 0; i < 50; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$tport") 2>/dev/null && break; sleep 0.1; done
	expect "self-signed server without ca_bundle" $ST_ETLS "TLS.*(certificate|self.signed)" \
		run "$IT_AK" "$IT_SK" "$(opts "https://127.0.0.1:$tport" '{retries: 0}')" "s3://$IT_BUCKET" list
	# with the bundle the handshake succeeds; s_server then answers HTML, not S3
	expect "self-signed server with ca_bundle: TLS passes" 28 "unparseable ListObjectsV2" \
		run "$IT_AK" "$IT_SK" "$(opts "https://127.0.0.1:$tport" "{retries: 0, ca_bundle: \"$IT_DIR/tls.crt\"}")" \
		"s3://$IT_BUCKET" list
	kill "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
fi

# --- bad options and arguments
expect "unknown option" 22 "unknown S3 option 'endpiont'" \
	run "$IT_AK" "$IT_SK" '{"endpiont": "x"}' "s3://$IT_BUCKET" list
expect "bad endpoint" 22 "must start with http" \
	run "$IT_AK" "$IT_SK" '{"endpoint": "ftp://x"}' "s3://$IT_BUCKET" list
expect "no credentials" $ST_ECREDS "no credentials.*AWS_ACCESS_KEY_ID" \
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE AWS_CONFIG_FILE=/nonexistent \
	AWS_SHARED_CREDENTIALS_FILE=/nonexistent "$CLI" -o "$(opts "$EP")" "s3://$IT_BUCKET" list

# --- the credential chain against the real server
cat >"$IT_DIR/.aws/credentials" <<EOF
[files]
aws_access_key_id = $IT_AK
aws_secret_access_key = $IT_SK
[bad]
aws_access_key_id = $IT_AK
aws_secret_access_key = not-it
EOF
cat >"$IT_DIR/.aws/config" <<EOF
[profile proc]
credential_process = printf '%s' '{"Version": 1, "AccessKeyId": "$IT_AK", "SecretAccessKey": "$IT_SK", "Expiration": "2099-01-01T00:00:00Z"}'
[profile procexpired]
credential_process = printf '%s' '{"Version": 1, "AccessKeyId": "$IT_AK", "SecretAccessKey": "$IT_SK", "Expiration": "2001-01-01T00:00:00Z"}'
[profile procsoon]
credential_process = printf '%s' '{"Version": 1, "AccessKeyId": "$IT_AK", "SecretAccessKey": "$IT_SK", "Expiration": "$(date -u -d '+120 sec' +%Y-%m-%dT%H:%M:%SZ)"}'
[profile procfail]
credential_process = sh-does-not-exist --flag
EOF
chain() { # PROFILE ARGS...
	local p=$1
	shift
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE="$p" \
		AWS_CONFIG_FILE="$IT_DIR/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
		"$CLI" -o "$(opts "$EP")" "s3://$IT_BUCKET/$P" "$@"
}
it_check "AWS_PROFILE from the credentials file" chain files head k
it_check "credential_process profile" chain proc head k
expect "credential_process with expired credentials" $ST_ECREDS "have expired" chain procexpired head k
it_check "credential_process expiring soon: refreshed, still works" chain procsoon list --all
expect "credential_process that cannot run" $ST_ECREDS "cannot run 'sh-does-not-exist'" \
	chain procfail head k
expect "profile with a wrong secret" $ST_ESIGNATURE "SignatureDoesNotMatch" chain bad head k
expect "missing profile" $ST_ECREDS "profile 'nope'" chain nope head k

# --- stepfs check
chk() { env -u AWS_PROFILE AWS_ACCESS_KEY_ID="${CK_AK:-$IT_AK}" AWS_SECRET_ACCESS_KEY="${CK_SK:-$IT_SK}" \
	AWS_CONFIG_FILE="$IT_DIR/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$IT_DIR/.aws/credentials" \
	"$STEPFS_BIN" check "$@"; }
it_check "stepfs check passes on the test bucket" chk "s3://$IT_BUCKET/$P" --endpoint "$EP"
chk "s3://$IT_BUCKET" --endpoint "$EP" >out 2>&1 || true
it_check "stepfs check reports each step" grep -qE '^  (put|head|get|list|delete) +ok' out
it_check "stepfs check names the credentials' source" grep -q "from environment" out
it_check "stepfs check counts unfinished multipart uploads" grep -qE '^  uploads +[0-9]+ unfinished multipart upload' out
check_says() { # DESC REGEX ARGS...
	local d=$1 re=$2 rc=0
	shift 2
	chk "$@" >out 2>&1 || rc=$?
	it_check_eq "stepfs check, $d: exit 1" 1 "$rc"
	it_check "stepfs check, $d: says so" grep -qE "$re" out
	it_check "stepfs check, $d: no secret shown" it_not grep -qF "$IT_SK" out
}
CK_SK=wrong check_says "wrong secret" "=> signature: .*secret key is wrong" "s3://$IT_BUCKET" --endpoint "$EP"
CK_AK=NOSUCHKEY000 check_says "unknown key" "=> signature: the server does not know this access key" \
	"s3://$IT_BUCKET" --endpoint "$EP"
check_says "no bucket" "=> bucket: no such bucket" "s3://stepfs-none-such" --endpoint "$EP"
check_says "server down" "=> connection: nothing accepts connections" "s3://$IT_BUCKET" \
	--endpoint "http://127.0.0.1:$port"
check_says "DNS" "=> DNS: .*does not resolve" "s3://$IT_BUCKET" --endpoint "http://no-such-host.invalid" \
	--path-style
check_says "TLS" "=> TLS: " "s3://$IT_BUCKET" --endpoint "${EP/http:/https:}"
check_says "clock skew" "=> clock skew: " "s3://$IT_BUCKET" --endpoint "$EP" -o '{"clock_offset_s": -7200}'

# --- access denied: a second user that does not own the bucket
conf=${STEPFS_SERVERS_DIR:+$STEPFS_SERVERS_DIR/ceph.conf}
if [ -n "$conf" ] && [ -f "$conf" ] && command -v radosgw-admin >/dev/null; then
	OAK=STEPFSOTHERUSER0001 OSK=other-secret-0123456789
	timeout 60 radosgw-admin -c "$conf" user create --uid=stepfs-other --display-name=other \
		--access-key=$OAK --secret=$OSK >/dev/null 2>&1 || true
	expect "another user's bucket" $ST_EDENIED "AccessDenied" \
		run $OAK $OSK "$(opts "$EP")" "s3://$IT_BUCKET/$P" put k f
	CK_AK=$OAK CK_SK=$OSK check_says "access denied" "=> permissions: " "s3://$IT_BUCKET" --endpoint "$EP"
else
	echo "# no radosgw-admin/ceph.conf: access-denied case skipped"
fi

run "$IT_AK" "$IT_SK" "$(opts "$EP")" "s3://$IT_BUCKET/$P" del k >/dev/null
it_done
