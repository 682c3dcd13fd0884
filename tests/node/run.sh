#!/usr/bin/env bash
# The connector as another host platform loads it: the component the host
# embeds, transpiled with jco and run under Node against the emulator.
# Needs node and npm, and a built host (`cargo build` or `cargo test`).
set -euo pipefail
cd "$(dirname "$0")"
root=../..
component=$root/target/guest/wasm32-wasip2/release/casebridge_guest.wasm
casebridge=$root/target/debug/casebridge
[ -f "$component" ] && [ -x "$casebridge" ] || { echo "build first: cargo build (no $component or $casebridge)" >&2; exit 1; }

npm ci --no-audit --no-fund --loglevel=error
npx jco transpile "$component" -o out --quiet --map 'casebridge:connector/*=../host.js#*'
echo '{"type":"module"}' > out/package.json

emulator=$(mktemp)
"$casebridge" emulator --seed demo > "$emulator" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$emulator"' EXIT
for _ in $(seq 100); do [ -s "$emulator" ] && break; sleep 0.1; done
node run.mjs "$emulator"
# An unmodified public Streaming API client (jsforce/faye) against the same org.
node streaming.mjs "$emulator"
