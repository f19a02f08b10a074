#!/usr/bin/env bash
# The cost benchmarks of benchmarks/README.md ("Compute in the units users pay for"), end to end:
# uniform best-of-N (derived from elimination capped at N), elimination and the adaptive methods
# given as arguments, on AddSub and SVAMP, the first 50 queries at budget 16 and the first 200 at
# budget 6, 3 seeds each; then the curves, factors and plots on every axis.
#
#     bash benchmarks/cost_benchmarks.sh adaptive-auto       (make bench-costs)
#
# One process at a time: on a 2-core machine two llama.cpp processes slow each other down more
# than twice. A shared response cache makes every base-prompt sample free after its first draw.
set -euo pipefail
METHODS=("$@")
DATA=(--dataset ../shared/datasets/addsub.jsonl --dataset ../shared/datasets/svamp.jsonl)
PY=${PY:-python}
RESULTS=benchmarks/results
CACHE=${CACHE:-.cache/responses}
RUNS=${RUNS:-runs/benchmark}

slice() {  # limit budget uniform_n name
  "$PY" benchmarks/compare_methods.py "${DATA[@]}" --limit "$1" --budget "$2" --seeds 0 1 2 \
    --methods elimination "${METHODS[@]}" --cache-dir "$CACHE" --runs-dir "$RUNS/$4" --out "$RESULTS/costs-$4.json"
  "$PY" benchmarks/uniform_first_pass.py "${DATA[@]}" --limit "$1" --n "$3" --seeds 0 1 2 \
    --cache-dir "$CACHE" --runs-dir "$RUNS/$4" --merge-into "$RESULTS/costs-$4.json" --out "$RESULTS/costs-$4.json"
  "$PY" benchmarks/compute_curves.py "$RESULTS/costs-$4.json" --budgets 2 4 6 8 12 16 \
    --out "$RESULTS/cost-curves-$4.json" --plots "$RESULTS/cost-curves-$4"
}

slice 50 16 48 first50-budget16
slice 200 6 20 first200-budget6
