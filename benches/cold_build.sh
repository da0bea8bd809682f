#!/usr/bin/env bash
# Cold-build benchmark: what a user's first `cargo build` costs with mangrove, next to the same
# program written by hand on reqwest + serde + tokio.
#
#   bash benches/cold_build.sh            # the three builds, once
#   ROUNDS=2 bash benches/cold_build.sh   # each build twice, interleaved; the best of each is kept
#   MANGROVE_DIR=/path/to/other/checkout bash benches/cold_build.sh   # e.g. another version
#   BASELINE_DIR=/path/to/older/checkout bash benches/cold_build.sh   # adds a row: that version,
#                                                                     # default features
#   EXTRA=1 bash benches/cold_build.sh    # adds a row: ring with the `schemars` feature back on
#   VARIANTS="sdk-ring handwritten" bash benches/cold_build.sh   # only these rows
#
# Builds in fresh target directories, back to back in one run (the machine's load is shared by
# all three, so the ratios mean more than the seconds), the user crates of benches/cold_build/:
#   sdk (default)  mangrove with its default features (aws-lc-rs)
#   sdk (ring)     mangrove with default-features = false, features = ["ring"]
#   hand-written   reqwest (rustls with aws-lc-rs, HTTP/2: the stack mangrove uses) + serde + tokio
# Debug profile, `--offline` (only the local registry cache; run `cargo fetch` in the crate once if
# a source is missing), versions pinned by this repository's Cargo.lock. Prints the seconds, the
# ratio to the hand-written build, and each build's slowest units from `cargo build --timings`.
# Needs cargo and python3. A mangrove without the `ring` feature (before 0.3) skips that row.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
mangrove=$(cd "${MANGROVE_DIR:-$repo}" && pwd)
rounds=${ROUNDS:-1}
top=${TOP:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_TERM_COLOR=never
unset RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER CARGO_TARGET_DIR

# One copy of each user crate per variant, its mangrove dependency pointing at $mangrove.
variants=(sdk-default handwritten)
if grep -q '^ring *=' "$mangrove/Cargo.toml"; then
  variants=(sdk-default sdk-ring handwritten)
  if [ -n "${EXTRA:-}" ]; then
    variants=(sdk-default sdk-ring sdk-ring-schemars handwritten)
  fi
fi
if [ -n "${VARIANTS:-}" ]; then
  read -r -a variants <<<"$VARIANTS"
fi
if [ -n "${BASELINE_DIR:-}" ]; then
  baseline=$(cd "$BASELINE_DIR" && pwd)
  variants=(sdk-baseline "${variants[@]}")
fi
for v in "${variants[@]}"; do
  case $v in
    sdk-default) src=sdk; dep="mangrove = { path = \"$mangrove\" }" ;;
    sdk-ring) src=sdk; dep="mangrove = { path = \"$mangrove\", default-features = false, features = [\"ring\"] }" ;;
    sdk-ring-schemars) src=sdk; dep="mangrove = { path = \"$mangrove\", default-features = false, features = [\"ring\", \"schemars\"] }" ;;
    sdk-baseline) src=sdk; dep="mangrove = { path = \"$baseline\" }" ;;
    handwritten) src=handwritten; dep="" ;;
  esac
  cp -r "$repo/benches/cold_build/$src" "$work/$v"
  if [ -n "$dep" ]; then
    sed -i "s|^mangrove = .*|$dep|" "$work/$v/Cargo.toml"
  fi
  # The SDK's own lock file: the same versions in all three builds (cargo drops what is unused).
  if [ "$v" = sdk-baseline ]; then
    cp "$baseline/Cargo.lock" "$work/$v/Cargo.lock"
  else
    cp "$mangrove/Cargo.lock" "$work/$v/Cargo.lock"
  fi
done

# Builds $1 in a fresh target directory; prints the wall-clock and the CPU seconds (user + system
# of cargo and every rustc, build script and linker it ran). On a busy machine the wall clock
# measures the neighbours too; the CPU time much less so.
build() {
  local v=$1 round=$2 target="$work/target-$1-$2"
  local code=0
  (cd "$work/$v" && python3 -c '
import resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL)
wall = time.monotonic() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{wall:.1f} {ru.ru_utime + ru.ru_stime:.1f}\n")
sys.exit(code)' "$work/$v-$round.secs" cargo build --offline --quiet --timings --target-dir "$target") \
    >"$work/$v-$round.log" 2>&1 || code=$?
  if [ "$code" != 0 ]; then
    cat "$work/$v-$round.log" >&2
    echo "cold build of $v failed (exit status $code)" >&2
    exit 1
  fi
  cp "$target"/cargo-timings/cargo-timing.html "$work/$v-$round.html"
  rm -rf "$target"
  cat "$work/$v-$round.secs"
}

for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    read -r wall cpu < <(build "$v" "$round")
    echo "$v $round $wall $cpu" >>"$work/results"
    echo "round $round: $v ${wall} s wall, ${cpu} s CPU" >&2
  done
done

python3 - "$work" "$top" "$(nproc)" "${variants[@]}" <<'PY'
import json, re, sys
from pathlib import Path

work, top, cpus, variants = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
runs = {}
for line in (work / "results").read_text().split("\n"):
    if line:
        v, rnd, wall, cpu = line.split()
        runs.setdefault(v, []).append((float(wall), rnd, float(cpu)))
best = {v: min(runs[v]) for v in variants}
best_cpu = {v: min(r[2] for r in runs[v]) for v in variants}
names = {
    "sdk-baseline": "mangrove baseline (default features)",
    "sdk-default": "mangrove (default: aws-lc-rs)",
    "sdk-ring": "mangrove (ring)",
    "sdk-ring-schemars": "mangrove (ring, schemars)",
    "handwritten": "hand-written reqwest+serde+tokio",
}
if "handwritten" not in best:
    sys.exit("the hand-written build is the reference: keep it in VARIANTS")
base, base_cpu = best["handwritten"][0], best_cpu["handwritten"]
print(f"\nCold debug build on {cpus} CPUs (best of {len(runs['handwritten'])} round(s), fresh target dirs)")
print(f"{'build':<38} {'wall s':>7} {'ratio':>6} {'CPU s':>7} {'ratio':>6}")
for v in variants:
    w, c = best[v][0], best_cpu[v]
    print(f"{names[v]:<38} {w:>7.1f} {w / base:>5.2f}x {c:>7.1f} {c / base_cpu:>5.2f}x")
print("(ratio: to the hand-written build; CPU: user + system time of the whole build)")

def units(html):
    """The units of `cargo build --timings`' HTML report: (name, target, seconds)."""
    text = html.read_text()
    m = re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S)
    if not m:
        return []
    out = []
    for u in json.loads(m.group(1)):
        target = u.get("target", "").strip()
        label = u["name"] + (f" {target}" if target else "")
        out.append((u.get("duration", 0.0), label))
    return sorted(out, reverse=True)

for v in variants:
    secs, rnd, _ = best[v]
    listed = units(work / f"{v}-{rnd}.html")[:top]
    print(f"\nSlowest units, {names[v]} ({secs:.1f} s):")
    if not listed:
        print("  (the timing report's format was not recognised)")
    for d, label in listed:
        print(f"  {d:6.1f} s  {label}")
PY
