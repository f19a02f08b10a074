#!/usr/bin/env bash
# The cost benchmarks of benchmarks/README.md ("Compute in the units users pay for"), end to end:
# elimination and the adaptive methods given as arguments, then uniform best-of-N and elimination
# past its budget (both from one elimination run capped at N: benchmarks/uniform_first_pass.py),
# on AddSub and SVAMP, the first 50 queries at budget 16 and the first 200 at budget 6; then the
# curves, efficiency factors and plots on every axis (samples, output tokens, total tokens, FLOPs,
# cost under price tables A and B).
#
#     bash benchmarks/cost_benchmarks.sh adaptive-auto                (make bench-costs)
#     SEEDS_200="0" bash benchmarks/cost_benchmarks.sh adaptive-auto  (what was committed: see README)
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
read -r -a SEEDS_50 <<< "${SEEDS_50:-0 1 2}"
read -r -a SEEDS_200 <<< "${SEEDS_200:-0 1 2}"

slice() {  # limit budget uniform_n name budgets seeds...
  local limit=$1 budget=$2 n=$3 name=$4 budgets=$5
  shift 5
  "$PY" benchmarks/compare_methods.py "${DATA[@]}" --limit "$limit" --budget "$budget" --seeds "$@" \
    --methods elimination "${METHODS[@]}" --cache-dir "$CACHE" --runs-dir "$RUNS/$name" \
    --out "$RESULTS/costs-$name.json"
  "$PY" benchmarks/uniform_first_pass.py "${DATA[@]}" --limit "$limit" --n "$n" --seeds "$@" \
    --cache-dir "$CACHE" --runs-dir "$RUNS/$name" --merge-into "$RESULTS/costs-$name.json" \
    --out "$RESULTS/costs-$name.json"
  # shellcheck disable=SC2086
  "$PY" benchmarks/compute_curves.py "$RESULTS/costs-$name.json" --budgets $budgets \
    --out "$RESULTS/cost-curves-$name.json" --plots "$RESULTS/cost-curves-$name"
}

slice 50 16 48 first50-budget16 "2 4 6 8 12 16" "${SEEDS_50[@]}"
slice 200 6 20 first200-budget6 "2 4 6" "${SEEDS_200[@]}"
