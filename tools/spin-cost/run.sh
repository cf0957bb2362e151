#!/usr/bin/env bash
# Per-request cost of spin-logs on a real Spin, beside the hello world, in
# one run: requests per second under `wrk -c4` and the host's CPU time per
# request (user + system of `spin trigger http` / requests served, which a
# busy machine distorts far less than requests per second).
#
#   SPIN=/path/to/spin tools/spin-cost/run.sh [VAR=value ...]
#
# Builds nothing: run `spin build` (and the same in tests/hello-world)
# first. Extra arguments are environment for `spin up`, e.g.
# `SPIN_VARIABLE_METRICS_REQUEST_SAMPLE=1`; `LIMIT=1` sets the standard rate
# limit to 1 a minute so the "429" row is refused. Follows get a 1 ms
# budget, so the "follow" row is one invocation's start and end.
# RUST_BACKTRACE is unset for Spin: with it, every host error captures a
# backtrace.
# Figures on Spin 4.1: docs/performance.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spin=${SPIN:?set SPIN to a spin binary}
secret="spin-logs benchmark secret, 32+ bytes long"
secs=${SECS:-10}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
up() { # dir port [env...]
  local dir=$1 port=$2; shift 2
  (cd "$dir" && env -u RUST_BACKTRACE "$@" setsid "$spin" up --from spin.toml \
     --listen "127.0.0.1:$port" --state-dir "$(mktemp -d)" >/dev/null 2>&1 &)
  for _ in $(seq 1 180); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 1; done
}
trigger() { pgrep -f "trigger http --listen 127.0.0.1:$1"; }
down() { pkill -9 -f "listen 127.0.0.1:$1" || true; }
measure() { # name pid url [header]
  local t0 t1 out reqs rps hz
  t0=$(ticks "$2")
  if [ -n "${4:-}" ]; then out=$(wrk -t1 -c4 -d"${secs}s" -H "$4" "$3"); else out=$(wrk -t1 -c4 -d"${secs}s" "$3"); fi
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: $(echo "$out" | grep Non-2xx)"; fi
  t1=$(ticks "$2"); hz=$(getconf CLK_TCK)
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
  printf '%-12s %10s req/s %8s us CPU/request\n' "$1" "$rps" $(( (t1 - t0) * 1000000 / hz / (reqs > 0 ? reqs : 1) ))
}

hp=$(free_port); up "$root/tests/hello-world" "$hp" </dev/null >/dev/null 2>&1; hpid=$(trigger "$hp")
port=$(free_port)
up "$root" "$port" SPIN_VARIABLE_AUTH_HS256_SECRET="$secret" \
  SPIN_VARIABLE_RATE_LIMIT_STANDARD="${LIMIT:-100000000}" SPIN_VARIABLE_RATE_LIMIT_INGEST=100000000 \
  SPIN_VARIABLE_TAIL_BUDGET_MS=1 SPIN_VARIABLE_MAX_FOLLOWERS=1000000000 "$@" \
  </dev/null >/dev/null 2>&1
pid=$(trigger "$port")
trap 'down $port; down $hp' EXIT
base="http://127.0.0.1:$port"
token() { echo "Authorization: Bearer $(python3 "$here/jwt.py" "$secret" "$1")"; }
curl -sf -o /dev/null -X PUT -H "$(token ingester)" -H 'content-type: application/json' \
  -d '{"name":"tiny","agent_id":"A","framework_id":"F","container_id":"tiny-c"}' "$base/system/v1/logs/v2/ingest/tasks/tiny"
python3 -c "print('\n'.join('x' * 99 for _ in range(100)))" |
  curl -sf -o /dev/null -X POST -H "$(token ingester)" -H 'content-type: text/plain' --data-binary @- \
  "$base/system/v1/logs/v2/ingest/tasks/tiny/files/stdout"
file=/system/v1/agent/A/logs/v2/task/frameworks/F/executors/tiny/runs/tiny-c/stdout
read="$base$file?cursor=END&skip=-1"
measure "hello" "$hpid" "http://127.0.0.1:$hp/"
measure "small read" "$pid" "$read" "$(token first)"
measure "401" "$pid" "$read"
measure "GET /" "$pid" "$base/"
measure "429" "$pid" "$read" "$(token abuser)"
# A follow whose budget (1 ms here) ends at once: what an idle follower's
# reconnect costs (auth, its follower slot, one poll, the resume event).
measure "follow" "$pid" "$base/system/v1/logs/v2/follow$file?cursor=END" "$(token first)"
measure "hello" "$hpid" "http://127.0.0.1:$hp/"
