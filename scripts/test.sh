#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the wasm targets,
# the wasmtime CLI, wasm-bindgen, Chromium and playwright-core, builds the
# worker components and the client package, then runs every test: the
# workspace's, the client package's in Chromium, and the pages' in Chromium.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
ensure_wasmtime_cli
ensure_postgres
build_workers
build_client
cargo build --release --target wasm32-wasip2 -p misbehave-guest -p spin-app-guest
cargo test --workspace --locked --no-fail-fast
test_client
test_browser
