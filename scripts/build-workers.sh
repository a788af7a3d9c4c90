#!/usr/bin/env bash
# Builds every worker component (release, wasm32-wasip2) into
# target/wasm32-wasip2/release/, as spin.toml expects them.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
build_workers
