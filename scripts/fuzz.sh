#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time, then
# replays the regression inputs. Not part of the test command: it needs the
# nightly toolchain and minutes per target.
#
#   bash scripts/fuzz.sh                  # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh decode thumbnail
#   FUZZ_SANITIZER=address bash scripts/fuzz.sh cube   # ASan (slower)
#
# Installs cargo-fuzz into .tools/cargo-fuzz and Pillow (seed images) into
# .tools/pillow. Corpora grow in fuzz/corpus/<target>/ (not committed),
# seeded by fuzz/seeds/make_seeds.py; the inputs of past findings,
# fuzz/regressions/<target>/ (committed, and replayed by the test suite
# where a test names them), run first. A crash is written to
# fuzz/artifacts/<target>/ and stops the script with a non-zero exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECONDS_EACH=${FUZZ_SECONDS:-60}
SANITIZER=${FUZZ_SANITIZER:-none}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if [ ! -x .tools/cargo-fuzz/bin/cargo-fuzz ]; then
    cargo install --locked --root .tools/cargo-fuzz cargo-fuzz --version 0.13.2
fi
if [ ! -d .tools/pillow/PIL ]; then
    python3 -m pip install --quiet --disable-pip-version-check --target .tools/pillow pillow==11.3.0
fi
export PATH="$ROOT/.tools/cargo-fuzz/bin:$PATH"

if [ ! -d fuzz/corpus ]; then
    PYTHONPATH=.tools/pillow python3 fuzz/seeds/make_seeds.py "$ROOT" fuzz/corpus
fi

cd fuzz
# One instrumented build for every target.
cargo +nightly fuzz build --sanitizer "$SANITIZER" --debug-assertions
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${SECONDS_EACH}s"
    log="artifacts/$target.log"
    mkdir -p artifacts
    status=0
    # Earlier findings run first (and new inputs go to the corpus only).
    regressions=()
    [ -d "regressions/$target" ] && regressions=("regressions/$target")
    cargo +nightly fuzz run --sanitizer "$SANITIZER" --debug-assertions "$target" \
        "corpus/$target" "${regressions[@]}" -- -max_total_time="$SECONDS_EACH" -timeout=10 \
        -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|INFO: seed corpus)|panicked' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "$target failed (exit $status): the input is in fuzz/artifacts/$target/"
        exit "$status"
    fi
done
