#!/usr/bin/env bash
# Kept demonstrations (--keep-demonstrations) of benchmarks/README.md, on the pilot slices (SVAMP and AddSub
# queries 251-350, seed 0, budget 6), side by side with the default (auto demonstrations, the prefix store
# at its default size) and elimination run on to 9 samples a query (to be read at each method's compute),
# each on its own fresh response cache so every sample's cached-token count is its own.
# Writes benchmarks/results/levers-pilot-keep.json and levers-pilot-keep-equal.json.
set -euo pipefail
PY=${PY:-python}
RUNS=${RUNS:-runs/pilot-keep}
CACHE=${CACHE:-.cache/pilot-keep}
for data in svamp addsub; do
  for spec in "adaptive-auto-keep 6" "adaptive-auto 6" "elimination 9"; do
    read -r v b <<< "$spec"
    rm -rf "$CACHE/$data-$v-$b"
    "$PY" benchmarks/compare_methods.py --dataset "../shared/datasets/$data.jsonl" \
      --skip 250 --limit 100 --budget "$b" --seeds 0 --methods "$v" --cache-dir "$CACHE/$data-$v-$b" \
      --runs-dir "$RUNS/$data" --out "$RUNS/$data-$v-b$b.json"
  done
done
"$PY" benchmarks/run_table.py "$RUNS"/svamp/* "$RUNS"/addsub/* --out benchmarks/results/levers-pilot-keep.json
"$PY" benchmarks/equal_compute.py \
  --baseline "$RUNS/svamp-elimination-b9.json" elimination \
  --baseline "$RUNS/addsub-elimination-b9.json" elimination \
  --method "$RUNS/svamp-adaptive-auto-keep-b6.json" adaptive-auto-keep \
  --method "$RUNS/svamp-adaptive-auto-b6.json" adaptive-auto \
  --method "$RUNS/addsub-adaptive-auto-keep-b6.json" adaptive-auto-keep \
  --method "$RUNS/addsub-adaptive-auto-b6.json" adaptive-auto \
  --out benchmarks/results/levers-pilot-keep-equal.json
