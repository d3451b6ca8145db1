#!/usr/bin/env bash
# Run every registered benchmark in full and keep each one's figures in .bench/NAME.json.
# Usage: benchmarks/run_all.sh [--quick] [NAME ...]
set -uo pipefail
cd "$(dirname "$0")/.."
quick=""
names=()
for a in "$@"; do
    if [ "$a" = "--quick" ]; then quick="--quick"; else names+=("$a"); fi
done
if [ ${#names[@]} -eq 0 ]; then
    mapfile -t names < <(uv run python -c "
import importlib.util
from finchain.bench.cli import BENCHMARKS
for n, m in BENCHMARKS.items():
    if importlib.util.find_spec(m): print(n)")
fi
mkdir -p .bench
status=0
for n in "${names[@]}"; do
    echo "==> finchain bench $n $quick"
    uv run finchain bench "$n" $quick --json ".bench/$n.json" || { echo "bench $n failed"; status=1; }
done
exit $status
