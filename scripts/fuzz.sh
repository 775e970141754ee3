#!/usr/bin/env bash
# Runs every cargo-fuzz target for FUZZ_SECONDS (default 60) from seed corpora built from
# the real files we ship, prints executions per target, and copies any crash, timeout or
# out-of-memory input into tests/fuzz-regressions/TARGET/ (tests/mutations.rs replays them).
#
#   FUZZ_SECONDS=300 scripts/fuzz.sh [TARGET...]
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(edf bdf hdf5 csv scenario checkpoint)

corpus=fuzz/corpus
mkdir -p "$corpus"/{edf,bdf,hdf5,csv,scenario,checkpoint}
cp signals/*.edf "$corpus/edf/"
cp signals/*.bdf "$corpus/bdf/"
cp signals/*.h5 "$corpus/hdf5/"
cp fuzz/seeds/scenario/*.toml "$corpus/scenario/"
for m in models/*/; do cp "$m/config.json" "$corpus/checkpoint/$(basename "$m").json"; done
if [ ! -e "$corpus/csv/mitdb208.csv" ]; then
  cargo run -q --release -- convert signals/mitdb208.edf "$corpus/csv/mitdb208.csv" --end 5
  cargo run -q --release -- convert signals/phyaat_eeg14.edf "$corpus/csv/eeg14.csv" --end 2
fi

status=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  # -rss_limit_mb: a header must not make us allocate by its word; -timeout: nor hang.
  if cargo +nightly fuzz run "$t" "$corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
      -timeout=10 -max_len=1048576 -print_final_stats=1 >"$log" 2>&1; then
    verdict=ok
  else
    verdict=FOUND
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz $t: ${secs}s, $runs executions, $verdict"
  if [ -d "fuzz/artifacts/$t" ] && ls "fuzz/artifacts/$t"/* >/dev/null 2>&1; then
    mkdir -p "tests/fuzz-regressions/$t"
    cp "fuzz/artifacts/$t"/* "tests/fuzz-regressions/$t/"
    grep -E "ERROR|panicked|SUMMARY" "$log" | head -5
  fi
  rm -f "$log"
done
exit $status
