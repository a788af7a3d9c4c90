#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the wasm target and
# the wasmtime CLI, builds the worker components, then runs every test.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
ensure_wasmtime_cli
ensure_postgres
build_workers
cargo build --release --target wasm32-wasip2 -p misbehave-guest -p spin-app-guest
cargo test --workspace --locked --no-fail-fast
