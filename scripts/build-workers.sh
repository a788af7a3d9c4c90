#!/usr/bin/env bash
# Builds every worker component (release, wasm32-wasip2) into
# target/wasm32-wasip2/release/: <worker>.wasm as spin.toml expects them
# (Spin, studio-edge up), and <worker>.wasmtime.wasm for `wasmtime serve`
# (the worker composed with workers/spin-env-adapter; see scripts/common.sh).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
build_workers
