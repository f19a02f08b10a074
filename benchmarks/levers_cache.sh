#!/usr/bin/env bash
# The cache-friendly serving levers of benchmarks/README.md, on the pilot slice (SVAMP queries 251-350,
# seed 0, budget 6): each variant on its own fresh response cache, so every sample is generated in that
# run's own order and its cached-token count is its own. RUNS and CACHE name where runs and caches go.
# The "given" rows of the committed table were measured before serve_order existed (the engine served
# requests in the planned order); today `--llamacpp-serve-order given` reproduces them.
set -euo pipefail
PY=${PY:-python}
RUNS=${RUNS:-runs}
CACHE=${CACHE:-.cache}
for order in given prefix; do
  for v in elimination adaptive-auto adaptive-auto-together2 adaptive-auto-together3; do
    rm -rf "$CACHE/levers-$order-$v"
    "$PY" benchmarks/compare_methods.py --dataset ../shared/datasets/svamp.jsonl \
      --skip 250 --limit 100 --budget 6 --seeds 0 --methods "$v" --cache-dir "$CACHE/levers-$order-$v" \
      --serve-order "$order" --runs-dir "$RUNS/pilot-$order" --out "$RUNS/pilot-$order-$v.json"
  done
done
"$PY" benchmarks/run_table.py "$RUNS"/pilot-given/* "$RUNS"/pilot-prefix/* --out benchmarks/results/levers-pilot-cache.json
