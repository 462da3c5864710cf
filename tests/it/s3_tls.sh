#!/usr/bin/env bash
# tests/it/s3_tls.sh: the S3 client over HTTPS. socat terminates TLS (a
# certificate of our own CA for 127.0.0.1) in front of the real Ceph RGW:
# with the CA given as ca_bundle (or AWS_CA_BUNDLE) single and parallel
# transfers work and land byte-exact; without it the system CAs refuse the
# server with a TLS error; a certificate for another name is refused even
# with the CA.
set -e
. "$(dirname "$0")/lib.sh"
it_need_s3
it_need_cmd socat openssl jq cmp python3
CLI=$(it_need_helper helper_s3cli)
cd "$IT_DIR"
P=${IT_PREFIX%/}
UP=${IT_ENDPOINT#http://}
UP=${UP%%/*}
SOCAT_PIDS=()
it_defer 'for p in "${SOCAT_PIDS[@]}"; do kill "$p"; done'

# a CA, a server certificate for 127.0.0.1 and one for another name
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=stepfs-test-ca \
	>/dev/null 2>&1
for n in good:IP:127.0.0.1 wrong:DNS:elsewhere.invalid; do
	name=${n%%:*} san=${n#*:}
	openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" >/dev/null 2>&1
	printf 'subjectAltName=%s\n' "$san" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$name.crt" -days 2 \
		-extfile "$name.ext" >/dev/null 2>&1
	cat "$name.crt" "$name.key" >"$name.pem"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tls_front() { # CERTNAME: start socat, print its port
	local port
	port=$(free_port)
	socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$1.pem,verify=0" "TCP:$UP" \
		</dev/null >/dev/null 2>&1 &
	SOCAT_PIDS+=($!)
	for ((i = 0; i < 50; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
	echo "$port"
}
GOOD=$(tls_front good)
WRONG=$(tls_front wrong)
s3() { # ENDPOINT EXTRA-OPTS ARGS...
	local o
	o=$(jq -cn --arg e "$1" "{endpoint: \$e, retries: 1} + $2")
	shift 2
	env -u AWS_CA_BUNDLE AWS_ACCESS_KEY_ID="$IT_AK" AWS_SECRET_ACCESS_KEY="$IT_SK" \
		"$CLI" -o "$o" "s3://$IT_BUCKET/$P" "$@"
}
CA="{ca_bundle: \"$IT_DIR/ca.crt\"}"
head -c 4000 /dev/urandom >small
head -c 22000000 /dev/urandom >big

it_check "https put with ca_bundle" s3 "https://127.0.0.1:$GOOD" "$CA" put "a b" small --meta k=v
rm -f got
s3 "https://127.0.0.1:$GOOD" "$CA" getone "a b" got >/dev/null || true
it_same_file "https get" small got
it_check_eq "https head" "4000 v" "$(s3 "https://127.0.0.1:$GOOD" "$CA" head "a b" | jq -r '(.size|tostring) + " " + .meta.k')"
it_check "https parallel multipart put" s3 "https://127.0.0.1:$GOOD" "$CA" putfile big big \
	--part-size 5242880 --parallel 4
rm -f got
it_check "https parallel ranged get" s3 "https://127.0.0.1:$GOOD" "$CA" get big got \
	--part-size 5242880 --parallel 4
it_same_file "https round trip of 22 MB" big got
listed() { s3 "https://127.0.0.1:$GOOD" "$CA" list --all | jq -s -e 'any(.[]; .key == "a b")' >/dev/null; }
it_check "https list" listed
it_check "AWS_CA_BUNDLE works like ca_bundle" env AWS_CA_BUNDLE="$IT_DIR/ca.crt" \
	AWS_ACCESS_KEY_ID="$IT_AK" AWS_SECRET_ACCESS_KEY="$IT_SK" \
	"$CLI" -o "{\"endpoint\": \"https://127.0.0.1:$GOOD\"}" "s3://$IT_BUCKET/$P" head "a b"
# direct (plain HTTP) read of what went over TLS
rm -f got
env AWS_ACCESS_KEY_ID="$IT_AK" AWS_SECRET_ACCESS_KEY="$IT_SK" \
	"$CLI" -o "{\"endpoint\": \"$IT_ENDPOINT\"}" "s3://$IT_BUCKET/$P" getone big got >/dev/null
it_same_file "the server holds the object sent over TLS" big got

rc=0
s3 "https://127.0.0.1:$GOOD" '{}' head "a b" >/dev/null 2>err || rc=$?
it_check_eq "system CAs refuse our CA: TLS error" 20 "$rc"
it_check "...naming the certificate problem" grep -qiE "certificate" err
rc=0
s3 "https://127.0.0.1:$WRONG" "$CA" head "a b" >/dev/null 2>err || rc=$?
it_check_eq "certificate for another name: TLS error" 20 "$rc"
it_check "...naming the mismatch" grep -qiE "certificate|subject|name" err

s3 "https://127.0.0.1:$GOOD" "$CA" delmany "a b" big >/dev/null
it_done
