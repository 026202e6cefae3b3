#!/usr/bin/env bash
# Memory after a burst: the proxy built with jemalloc (the default) and with glibc's
# malloc, side by side, alternating, three runs each. Each run starts a proxy with two
# Rust plugins, sends 16 concurrent 8 MB chat bodies (2,000 messages of 4 KB) twice, and
# reads the resident memory at its peak and 6 s after the burst.
#
#   bench/memory/burst.sh        (from the workspace root; builds what it needs)
#
# Prints one line per run and the medians; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make -s guests >/dev/null
cargo build -q -p hookgate && cp "$target/debug/hookgate" "$work/hookgate-jemalloc"
cargo build -q -p hookgate --no-default-features && cp "$target/debug/hookgate" "$work/hookgate-glibc"
cargo build -q -p hookgate # leave the default build in place

mkdir -p "$work/plugins"
cp "$target/wasm32-wasip2/guest/banned_keywords.wasm" "$work/plugins/banned-keywords.wasm"
cp "$target/wasm32-wasip2/guest/header_injector.wasm" "$work/plugins/header-injector.wasm"
cat > "$work/config.yaml" <<EOF
model_list:
  - {model_name: m, litellm_params: {model: mock/echo}}
general_settings: {master_key: sk-memory-burst-0001}
plugins:
  dir: plugins
  cache_dir: $target/hookgate-cache
  settings:
    banned-keywords: {config: {keywords: [forbidden]}}
    header-injector: {config: {headers: {x-a: b}}}
EOF
python3 - "$work/body.json" <<'EOF'
import json, sys
message = {"role": "user", "content": "x" * 4000}
open(sys.argv[1], "w").write(json.dumps({"model": "m", "messages": [message] * 2000}))
EOF

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# run <binary>: prints "peak_kb after_kb"
run() {
  "$1" serve --config "$work/config.yaml" --port 0 >"$work/out" 2>"$work/log" &
  local pid=$! port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/out" | head -1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  local peak=0 r
  for _ in 1 2; do
    for _ in $(seq 1 16); do
      curl -s -o /dev/null "http://127.0.0.1:$port/v1/chat/completions" \
        -H "Authorization: Bearer sk-memory-burst-0001" -H "Content-Type: application/json" \
        --data-binary @"$work/body.json" &
    done
    while jobs -r | grep -q curl; do
      r=$(rss $pid); [ "$r" -gt "$peak" ] && peak=$r
      sleep 0.02
    done
  done
  sleep 6
  echo "$peak $(rss $pid)"
  kill $pid; wait $pid 2>/dev/null || true
}

median() { sort -n | sed -n 2p; }
: >"$work/jemalloc"; : >"$work/glibc"
for i in 1 2 3; do
  for allocator in jemalloc glibc; do
    line=$(run "$work/hookgate-$allocator")
    echo "run $i $allocator: peak ${line% *} kB, 6 s after ${line#* } kB"
    echo "$line" >>"$work/$allocator"
  done
done
for allocator in jemalloc glibc; do
  peak=$(cut -d' ' -f1 "$work/$allocator" | median)
  after=$(cut -d' ' -f2 "$work/$allocator" | median)
  echo "median $allocator: peak $((peak / 1024)) MiB, 6 s after $((after / 1024)) MiB"
done
