#!/usr/bin/env bash
# The prefix store of benchmarks/README.md, on the pilot slice (SVAMP queries 251-350, seed 0, budget 6):
# elimination and adaptive (auto demonstrations, prefix-order serving), each without and with llamacpp's
# saved prompt prefixes (--llamacpp-prefix-store-mb), each on its own fresh response cache so every sample's
# cached-token count is its own; then the same with the store on AddSub queries 251-350, and elimination at 9
# samples a query on both. Writes benchmarks/results/levers-pilot-store.json and levers-pilot-store-equal.json.
set -euo pipefail
PY=${PY:-python}
RUNS=${RUNS:-runs}
CACHE=${CACHE:-.cache}
for store in 0 1024; do
  for v in elimination adaptive-auto; do
    rm -rf "$CACHE/store-$store-$v"
    "$PY" benchmarks/compare_methods.py --dataset ../shared/datasets/svamp.jsonl \
      --skip 250 --limit 100 --budget 6 --seeds 0 --methods "$v" --cache-dir "$CACHE/store-$store-$v" \
      --prefix-store-mb "$store" --runs-dir "$RUNS/pilot-store$store" --out "$RUNS/pilot-store$store-$v.json"
  done
done
# Elimination past the budget (9 samples a query), with saved prefixes, to be read at adaptive's compute.
rm -rf "$CACHE/store-1024-elim9"
"$PY" benchmarks/compare_methods.py --dataset ../shared/datasets/svamp.jsonl \
  --skip 250 --limit 100 --budget 9 --seeds 0 --methods elimination --cache-dir "$CACHE/store-1024-elim9" \
  --prefix-store-mb 1024 --runs-dir "$RUNS/pilot-store1024" --out "$RUNS/pilot-store1024-elim9.json"
# The same on AddSub queries 251-350, with the store only.
for spec in "elimination 6" "adaptive-auto 6" "elimination 9"; do
  read -r v b <<< "$spec"
  rm -rf "$CACHE/addsub-store-$v-$b"
  "$PY" benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
    --skip 250 --limit 100 --budget "$b" --seeds 0 --methods "$v" --cache-dir "$CACHE/addsub-store-$v-$b" \
    --prefix-store-mb 1024 --runs-dir "$RUNS/pilot-addsub-store1024" --out "$RUNS/pilot-addsub-store1024-$v-b$b.json"
done
"$PY" benchmarks/run_table.py "$RUNS"/pilot-store0/* "$RUNS"/pilot-store1024/* "$RUNS"/pilot-addsub-store1024/* \
  --out benchmarks/results/levers-pilot-store.json
"$PY" benchmarks/equal_compute.py \
  --baseline "$RUNS/pilot-store1024-elim9.json" elimination \
  --baseline "$RUNS/pilot-addsub-store1024-elimination-b9.json" elimination \
  --method "$RUNS/pilot-store1024-adaptive-auto.json" adaptive-auto \
  --method "$RUNS/pilot-store1024-elimination.json" elimination \
  --method "$RUNS/pilot-addsub-store1024-adaptive-auto-b6.json" adaptive-auto \
  --method "$RUNS/pilot-addsub-store1024-elimination-b6.json" elimination --out benchmarks/results/levers-pilot-store-equal.json
