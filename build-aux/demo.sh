#!/bin/bash
# demo.sh BUILDDIR: run a command through `hostgate-proxy run` with
# approval in ask mode, next to the desktop agent that asks the person.
# Everything runs on 127.0.0.1 and stops by itself.
#
# With a display and an agent already running, the agent asks you. With a
# display and no agent, the demo starts one. Without a display, it starts
# an agent on a virtual X display (Xvfb) and answers the prompt itself with
# xdotool, as a person would, so the whole path runs on a headless machine.
set -euo pipefail

builddir=$(cd "$1" && pwd)
proxy=$builddir/proxy/hostgate-proxy
agent=$builddir/agent/hostgate-agent
work=$(mktemp -d)
pids=()
headless=0

session_pid=

# The headless agent is stopped itself, not its dbus-run-session: killed
# by a signal, dbus-run-session leaves its bus and the accessibility bus
# running.
cleanup () {
  local pid
  if [[ -n $session_pid ]]; then
    [[ -s $work/agent.pid ]] && kill "$(cat "$work/agent.pid")" 2>/dev/null || true
    wait "$session_pid" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say () {
  if [[ -t 1 ]]; then
    printf '\033[1m%s\033[0m\n' "$*"
  else
    printf '%s\n' "$*"
  fi
}

# wait_for TEST…: poll until the test command succeeds, for at most 10 s.
wait_for () {
  local deadline=$((SECONDS + 10))
  until "$@"; do
    if (( SECONDS >= deadline )); then
      echo "demo: timed out waiting for: $*" >&2
      exit 1
    fi
    sleep 0.05
  done
}

agent_answers () {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)
PY
}

start_origin () {
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
  wait_for test -s "$work/origin.port"
  origin_port=$(cat "$work/origin.port")
}

# Starts an agent on a virtual display with its own configuration and
# runtime folders, so the demo leaves the machine as it found it.
start_headless_agent () {
  local display_fd
  headless=1
  export XDG_RUNTIME_DIR=$work/runtime XDG_CONFIG_HOME=$work/config
  mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
  socket=$XDG_RUNTIME_DIR/hostgate/agent.sock

  exec {display_fd}> "$work/display"
  Xvfb -displayfd "$display_fd" -screen 0 1024x768x24 -nolisten tcp 2> "$work/xvfb.log" &
  pids+=($!)
  exec {display_fd}>&-
  wait_for test -s "$work/display"
  export DISPLAY=:$(head -n1 "$work/display")

  say "No display found: started an agent on the virtual display $DISPLAY."
  # shellcheck disable=SC2016 # expanded by the inner shell
  dbus-run-session -- sh -c 'echo $$ > "$1"; exec "$2" --socket "$3"' sh \
    "$work/agent.pid" "$agent" "$socket" > "$work/agent.log" 2>&1 &
  session_pid=$!
  wait_for agent_answers "$socket"
}

ensure_agent () {
  socket=${HOSTGATE_AGENT_SOCKET:-${XDG_RUNTIME_DIR:-/nonexistent}/hostgate/agent.sock}

  if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
    start_headless_agent
  elif agent_answers "$socket"; then
    say "Using the hostgate agent already running on $socket: it will ask you."
  else
    say "Starting hostgate-agent on your display: it will ask you."
    "$agent" 2> "$work/agent.log" &
    pids+=($!)
    wait_for agent_answers "$socket"
  fi
}

# On the virtual display nobody is there to answer, so press Approve once
# the prompt's one-second input guard has passed.
answer_prompts_headless () {
  (
    deadline=$((SECONDS + 30))
    while (( SECONDS < deadline )); do
      window=$(xdotool search --onlyvisible --name "Network access request" 2>/dev/null | head -n1 || true)
      if [[ -n $window ]]; then
        sleep 1.5
        say "(demo) The agent asks about api.demo.test; answering Approve, Once, as a person would."
        xdotool windowfocus --sync "$window" key --clearmodifiers alt+a
        exit 0
      fi
      sleep 0.1
    done
  ) &
  pids+=($!)
}

start_origin
ensure_agent
[[ $headless -eq 0 ]] || answer_prompts_headless

status=0
url_docs=http://docs.demo.test:$origin_port/index.html
url_api=http://api.demo.test:$origin_port/index.html

say "Running a shell through hostgate-proxy run --network-approval ask."
say "docs.demo.test is on the allow list; api.demo.test is on no list, so the agent asks."
echo
"$proxy" run --network-approval ask --agent-socket "$socket" \
  --allow-domain docs.demo.test --allow-loopback \
  --resolve "docs.demo.test:$origin_port:127.0.0.1" \
  --resolve "api.demo.test:$origin_port:127.0.0.1" \
  --audit-log "$work/audit.jsonl" -- sh -c "
    echo '\$ curl $url_docs'; curl -sS '$url_docs'
    echo '\$ curl $url_api'; curl -sS '$url_api'
    echo '\$ curl http://169.254.169.254/ (cloud metadata: refused, never asked)'
    curl -sS -w 'status %{http_code}\n' http://169.254.169.254/
  " 2> "$work/proxy.log" || status=$?

echo
say "Audit log of the proxy:"
cat "$work/audit.jsonl"
exit $status
