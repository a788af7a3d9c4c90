#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the main job: the host
# serving every worker from spin.toml, the orders service and capture
# ingest, with a demo camera pushing the fixture photos at 5 fps.
# Ctrl-C stops it; the script prints the viewer page's address.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
build_workers
cargo build -p studio-edge
BIN="$ROOT/target/debug/studio-edge"
DATA="${STUDIO_EDGE_DATA:-$ROOT/data/demo}"
mkdir -p "$DATA"

# A fresh stream each run: its key is printed only when it is created.
STREAM="demo-$(date +%s)"
KEY=$("$BIN" streams --data-dir "$DATA" create "$STREAM" --color 'wb=auto&lut=warm')

"$BIN" up -f "$ROOT/spin.toml" --data-dir "$DATA" --listen 127.0.0.1:3000 &
HOST_PID=$!
trap 'kill $HOST_PID 2>/dev/null' EXIT
until curl -sf -o /dev/null http://127.0.0.1:3000/metrics; do sleep 0.5; done

# A limited drop for the viewer page's reserve button (100 units, one day).
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
curl -sf -X POST -H "Idempotency-Key: demo-drop-$STREAM" -H 'Content-Type: application/json' \
    http://127.0.0.1:3000/orders/v1/drops -d "{\"sku\":\"LIP-01\",\"title\":\"Lip tint\",
    \"units\":100,\"unit_price\":1500,\"currency\":\"EUR\",\"bundle\":{\"units\":3,\"price\":3900},
    \"starts_at\":\"$now\",\"ends_at\":\"$later\",\"per_buyer_limit\":2}"
echo

echo "watch: http://127.0.0.1:3000/watch/$STREAM"
"$BIN" demo-capture --url http://127.0.0.1:3000 --stream "$STREAM" --key "$KEY" \
    --fps 5 --frames 1000 --dir "$ROOT/../shared/fixtures/photos"
wait $HOST_PID
