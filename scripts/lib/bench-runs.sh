# shellcheck shell=bash
# Sourced by scripts/perf-check and scripts/profiling-overhead (not run by itself): the parts both
# need, in one copy. Release builds of `dimby` into a shared target directory (so the dependencies
# are compiled once), the benchmark arguments of a scenario's runs, and one benchmark run that
# writes its figures (crates/tools/src/bench/figures.rs) plus, where `perf stat -e instructions`
# counts, the instructions it retired.

# release_build TREE TARGET_DIR BIN [CARGO ARGS...]: builds `dimby` in release from the source tree
# TREE into TARGET_DIR and copies the binary to BIN.
release_build() {
  local tree="$1" target_dir="$2" bin="$3"
  shift 3
  (cd "$tree" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked --quiet -p dimby "$@")
  cp "$target_dir/release/dimby" "$bin"
}

# detect_perf: sets PERF_WORKS to true where `perf stat` counts instructions. `perf stat` exits 0
# even where the counter is "<not supported>": look for a number.
detect_perf() {
  PERF_WORKS=false
  if command -v perf >/dev/null 2>&1 \
    && perf stat -x, -e instructions true 2>&1 | grep -Eq '^[0-9]+,.*instructions'; then
    PERF_WORKS=true
  fi
}

# bench_default_args SCENARIO: sets BENCH_ARGS to the arguments of a release check's run of
# `dimby bench SCENARIO` (short enough for several interleaved runs).
# shellcheck disable=SC2034 # BENCH_ARGS is the result, read by the scripts that source this file
bench_default_args() {
  case "$1" in
    failover) BENCH_ARGS=(--players 1000) ;;
    health) BENCH_ARGS=(--rate 500 --seconds 2) ;;
    commands) BENCH_ARGS=(--guilds 300 --rate 100 --seconds 10) ;;
    *) BENCH_ARGS=() ;;
  esac
}

# bench_run BIN SCENARIO FIGURES [ARGS...]: one run of `BIN bench SCENARIO ARGS... --figures
# FIGURES`, its table thrown away; with PERF_WORKS=true under `perf stat`, whose instruction count
# goes into the figures as `instructions`. Call detect_perf first.
bench_run() {
  local bin="$1" scenario="$2" figures="$3"
  shift 3
  local args=(bench "$scenario" "$@" --figures "$figures")
  if [ "${PERF_WORKS:-false}" = true ]; then
    perf stat -x, -e instructions -o "$figures.perf" -- "$bin" "${args[@]}" >/dev/null
    python3 - "$figures" "$figures.perf" <<'PY'
import json, sys
figures, stat = sys.argv[1:3]
count = None
for line in open(stat):
    fields = line.strip().split(",")
    if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
        count = int(fields[0])
doc = json.load(open(figures))
if count:
    doc["instructions"] = count
json.dump(doc, open(figures, "w"), indent=2)
PY
  else
    "$bin" "${args[@]}" >/dev/null
  fi
}
