#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a figure that does not move
# with this shared machine's speed, for changes too small for req/s to show.
#
#   bench/instructions/count.sh [component.wasm ...]
#
# Serves the proxy (HOOKGATE_BIN, default the release build) with the given components as
# plugins (each `instances: reuse`, or INSTANCES=per-request for fresh instances; none
# given: no plugins; PLUGIN_SETTINGS, a YAML flow mapping by plugin name, configures
# them) against the bench's mock, and sends it 100 and then 600 sequential chat requests
# (the bench's prompt, one keep-alive connection) in two runs under callgrind. The
# difference between the runs' totals, over 500, is what one request costs, start-up
# excluded. With STREAM=1 each request is a streamed answer of the mock's
# 20 paced chunks instead (model mock-paced; 20 and 120 requests, as each takes half a
# second): what a stream costs, its chunks and their hooks included. Prints that, and
# keeps the second run's profile for `callgrind_annotate` (path printed; PROFILE_DIR
# chooses the directory). Builds hookgate and hookgate-bench (release) if they are not
# current; installs valgrind with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
bin=${HOOKGATE_BIN:-$target/release/hookgate}
# Not OUT_DIR: cargo build sees the variable too, and rebuilt everything each time it
# changed (a new directory per count).
out=${PROFILE_DIR:-$target/instructions}
cargo build -q --release -p hookgate -p hookgate-bench
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
mkdir -p "$out"
work=$(mktemp -d)
mock_port=$((30000 + RANDOM % 10000))
"$target/release/hookgate-bench" mock --port "$mock_port" >"$work/mock.log" 2>&1 &
mock=$!
proxy=
trap 'kill $mock $proxy 2>/dev/null; rm -rf "$work"' EXIT

mkdir -p "$work/plugins"
callbacks=()
for component in "$@"; do
    name=$(basename "$component" .wasm | tr _ -)
    cp "$component" "$work/plugins/$name.wasm"
    callbacks+=("\"$name\"")
done
{
    echo "model_list:"
    for model in mock-instant mock-paced; do
        echo "  - {model_name: $model, litellm_params: {model: openai/$model, api_base: \"http://127.0.0.1:$mock_port/v1\", api_key: sk-mock}}"
    done
    # One serving thread: how two share the connections would move the count.
    echo "general_settings: {master_key: sk-instructions-0001, serving_threads: 1}"
    echo "litellm_settings: {callbacks: [$(IFS=,; echo "${callbacks[*]}")]}"
    echo "plugins:"
    echo "  dir: $work/plugins"
    echo "  cache_dir: $target/hookgate-bench-cache"
    echo "  watch: false"
    # callgrind cannot reserve the address space of a large instance pool; but with fewer
    # slots than plugins (and one to spare), reused instances would give their slots to
    # each other on every request, and the count would measure that churn.
    echo "  max_instances: $(($# + 2 > 4 ? $# + 2 : 4))"
    echo "  defaults: {instances: ${INSTANCES:-reuse}}"
    # Per-plugin settings, a YAML flow mapping by plugin name: the configs some plugins
    # require (as `hookgate-bench serve` writes them).
    [ -z "${PLUGIN_SETTINGS:-}" ] || echo "  settings: $PLUGIN_SETTINGS"
} >"$work/config.yaml"

cat >"$work/client.py" <<'EOF'
import http.client, json, sys
port, count, stream = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
prompt = ("Hi, this is alice@example.com. Please summarize in two sentences: a proxy that runs "
    "its callbacks as WebAssembly components can enforce policies, redact personal data and log costs "
    "without slowing requests down, because each hook runs in a fresh sandbox with its own fuel and deadline.")
body = json.dumps({"model": "mock-paced" if stream else "mock-instant", "max_tokens": 64, "stream": stream, "messages": [
    {"role": "system", "content": "You are a concise assistant."}, {"role": "user", "content": prompt}]})
headers = {"Authorization": "Bearer sk-instructions-0001", "Content-Type": "application/json"}
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    connection.request("POST", "/v1/chat/completions", body, headers)
    response = connection.getresponse()
    text = response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}: {text[:300]!r}")
    if stream and not text.rstrip().endswith(b"data: [DONE]"):
        sys.exit(f"the stream did not end with [DONE]: {text[-300:]!r}")
EOF

# Serves `$1` requests under callgrind; sets `total` to the run's instruction count. Runs
# in this shell (not a subshell), so the exit trap can stop a proxy a failed run leaves.
run() {
    local port=$((20000 + RANDOM % 10000)) profile="$out/callgrind.$1.out"
    # One tokio worker: how two workers share the work (parking, stealing) varies run to
    # run and would move the count.
    TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$profile" \
        "$bin" serve --port "$port" --config "$work/config.yaml" >"$work/proxy.log" 2>&1 &
    proxy=$!
    for _ in $(seq 1 300); do
        kill -0 $proxy 2>/dev/null || { cat "$work/proxy.log" >&2; exit 1; }
        curl -s -o /dev/null "http://127.0.0.1:$port/health/liveliness" && break
        sleep 0.5
    done
    python3 "$work/client.py" "$port" "$1" "${STREAM:-0}"
    kill -INT $proxy
    wait $proxy 2>/dev/null || true
    proxy=
    # A hook that never ran costs nothing: a count with one skipped is wrong, not low.
    if grep -E "no free plugin instance slot|logging skipped| ERROR " "$work/proxy.log" >&2; then
        echo "count.sh: the proxy skipped work (above); the count would not be the request's" >&2
        exit 1
    fi
    total=$(awk '/^summary:/ { print $2 }' "$profile")
}

if [ "${STREAM:-0}" = 1 ]; then
    few_requests=20 many_requests=120 what="streamed request (20 chunks)"
else
    few_requests=100 many_requests=600 what=request
fi
run 1 # compiles the components into the artifact cache, off the count
run $few_requests
few=$total
run $many_requests
many=$total
echo "instructions per $what: $(((many - few) / (many_requests - few_requests))) (plugins: ${*:-none})"
echo "profile of $many_requests requests: $out/callgrind.$many_requests.out"
