#!/bin/bash
# demo.sh BUILDDIR: show hostgate-proxy admitting one host and refusing
# others. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail

builddir=$1
proxy=$builddir/proxy/hostgate-proxy
work=$(mktemp -d)
pids=()

cleanup () {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wait_for_file FILE: poll until FILE has content, for at most 10 s.
wait_for_file () {
  local deadline=$((SECONDS + 10))
  until [[ -s $1 ]]; do
    if (( SECONDS >= deadline )); then
      echo "demo: timed out waiting for $1" >&2
      exit 1
    fi
    sleep 0.05
  done
}

echo "hello from a local web server" > "$work/index.html"
python3 - "$work" > "$work/origin.port" <<'PY' &
import functools, http.server, sys

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

handler = functools.partial(QuietHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
pids+=($!)
wait_for_file "$work/origin.port"
origin_port=$(cat "$work/origin.port")

"$proxy" --listen 127.0.0.1:0 --port-file "$work/proxy.addr" --auth off \
  --allow-domain docs.demo.test --allow-loopback \
  --resolve "docs.demo.test:$origin_port:127.0.0.1" \
  --audit-log "$work/audit.jsonl" > /dev/null 2> "$work/proxy.log" &
pids+=($!)
wait_for_file "$work/proxy.addr"
proxy_addr=$(cat "$work/proxy.addr")

echo "hostgate-proxy listens on $proxy_addr and allows only docs.demo.test."
echo
echo "\$ curl -x http://$proxy_addr http://docs.demo.test:$origin_port/index.html"
curl -sS -x "http://$proxy_addr" "http://docs.demo.test:$origin_port/index.html"
echo
echo "\$ curl -x http://$proxy_addr http://other.demo.test:$origin_port/"
curl -sS -x "http://$proxy_addr" -o - -w 'status %{http_code}\n' "http://other.demo.test:$origin_port/" || true
echo
echo "\$ curl -p -x http://$proxy_addr http://169.254.169.254/ (cloud metadata)"
curl -sS -p -x "http://$proxy_addr" -o /dev/null -w 'status %{http_code}\n' "http://169.254.169.254/" 2>&1 || true
echo
echo "Audit log:"
cat "$work/audit.jsonl"
