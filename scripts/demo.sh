#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs the main job: the host
# serving every worker from spin.toml, the orders service and capture
# ingest; a fresh stream, an operator token for it and a pinned drop; and a
# demo camera pushing the fixture photos at 5 fps. It prints the viewer
# page, the operator console and the token to sign in with. Ctrl-C stops it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_rust_targets
build_workers
build_client
cargo build -p studio-edge
BIN="$ROOT/target/debug/studio-edge"
DATA="${STUDIO_EDGE_DATA:-$ROOT/data/demo}"
mkdir -p "$DATA"

# A fresh stream each run: its key is printed only when it is created.
STREAM="demo-$(date +%s)"
KEY=$("$BIN" streams --data-dir "$DATA" create "$STREAM" --color 'wb=auto&lut=warm' 2>/dev/null)
# An operator token for this stream (shown once; only its hash is kept).
TOKEN=$("$BIN" operators --data-dir "$DATA" create "operator-$STREAM" --stream "$STREAM" 2>/dev/null)

"$BIN" up -f "$ROOT/spin.toml" --data-dir "$DATA" --listen 127.0.0.1:3000 &
HOST_PID=$!
trap 'kill $HOST_PID 2>/dev/null' EXIT
until curl -sf -o /dev/null http://127.0.0.1:3000/metrics; do sleep 0.5; done

# A limited drop pinned to the stream (100 units, one hour, a bundle, two
# shades for the try-on panel), created with the operator token.
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" \
    -H "Idempotency-Key: demo-drop-$STREAM" -H 'Content-Type: application/json' \
    http://127.0.0.1:3000/orders/v1/drops -d "{\"sku\":\"LIP-01\",\"title\":\"Lip tint\",
    \"units\":100,\"unit_price\":1500,\"currency\":\"EUR\",\"bundle\":{\"units\":3,\"price\":3900},
    \"starts_at\":\"$now\",\"ends_at\":\"$later\",\"per_buyer_limit\":2,
    \"stream\":\"$STREAM\",\"pinned\":true,\"shades\":[
      {\"name\":\"Rose\",\"lab\":[55,38,14]},{\"name\":\"Coral\",\"lab\":[62,42,32]},
      {\"name\":\"Berry\",\"lab\":[38,40,6]}]}"

cat <<EOT

  viewer page:      http://127.0.0.1:3000/watch/$STREAM
  operator console: http://127.0.0.1:3000/studio/$STREAM
  operator token:   $TOKEN   (paste it into the console; shown only now)

EOT
"$BIN" demo-capture --url http://127.0.0.1:3000 --stream "$STREAM" --key "$KEY" \
    --fps 5 --frames 1000 --dir "$ROOT/../shared/fixtures/photos"
wait $HOST_PID
