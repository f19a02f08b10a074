"""pass@k from the warm-up: the estimator, its agreement across methods, and the gate on it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.estimates import pass_at_k, warmup_pass_at_k


def test_the_unbiased_estimator():
    assert pass_at_k(4, 1, 1) == 0.25 and pass_at_k(4, 1, 2) == 0.5  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(10, 3, 4) == pytest.approx(1 - (7 * 6 * 5 * 4) / (10 * 9 * 8 * 7))
    assert pass_at_k(4, 0, 3) == 0.0 and pass_at_k(4, 3, 2) == 1.0


def test_an_early_stopped_warmup_counts_its_first_pass_and_unknowns_are_not_left_out():
    rows = [{"query_id": "a", "sample_index": 0, "phase": "warmup", "passed": True, "error": None},
            {"query_id": "b", "sample_index": 0, "phase": "warmup", "passed": False, "error": None},
            {"query_id": "b", "sample_index": 1, "phase": "warmup", "passed": True, "error": None},
            {"query_id": "c", "sample_index": 0, "phase": "warmup", "passed": False, "error": None},
            {"query_id": "c", "sample_index": 1, "phase": "warmup", "passed": False, "error": None}]
    est = warmup_pass_at_k(rows, warmup=2, stops_at_first_pass=True)
    assert est["pass@1"]["value"] == pytest.approx((1 + 0 + 0) / 3, abs=1e-4)  # a passed first; b, c did not
    assert est["pass@2"]["value"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    # A query with one sample and no pass says nothing of pass@2: that estimate is not given.
    short = warmup_pass_at_k(rows[:2], warmup=2, stops_at_first_pass=True)
    assert "pass@2" not in short and "pass@1" in short
    whole = warmup_pass_at_k(rows[1:], warmup=2, stops_at_first_pass=False)  # b and c drawn whole
    assert whole["pass@1"]["value"] == pytest.approx((0.5 + 0) / 2)  # Chen: c / n
    assert warmup_pass_at_k([{**rows[0], "passed": None}], 2, True) is None  # votes: no pass@k


def test_every_method_estimates_pass_at_k_from_the_same_warmup_samples(synthetic, tmp_path):
    import pyarrow.parquet as pq

    path = synthetic(150, seed=4)

    def result(method: str, **schedule):
        return run(RunConfig.from_dict({
            "data": {"path": str(path)}, "backend": {"name": "simulated"}, "retrieval": {"embedder": "hashing"},
            "schedule": {"method": method, "budget": 4, "warmup": 3, **schedule},
            "output_dir": str(tmp_path / method)}))

    uniform, elimination = result("uniform"), result("elimination")
    assert result("adaptive", warmup_together=True).summary["estimates"] == uniform.summary["estimates"]
    # Elimination's warm-up is uniform's up to each first pass: the first-pass estimator over
    # uniform's samples gives elimination's figures exactly.
    rows = pq.read_table(uniform.run_dir / "samples.parquet").to_pylist()
    assert warmup_pass_at_k(rows, 3, stops_at_first_pass=True) == elimination.summary["estimates"]
    for k in (1, 2, 3):  # and both estimate the same probability
        low, high = uniform.summary["estimates"][f"pass@{k}"]["ci95"]
        assert low - 0.05 <= elimination.summary["estimates"][f"pass@{k}"]["value"] <= high + 0.05


def test_fail_on_gates_a_pass_at_k_and_refuses_one_the_run_cannot_have(synthetic, tmp_path):
    command = [sys.executable, "-m", "adaptive_batch", "run", str(synthetic(20)), "--backend", "simulated",
               "--embedder", "hashing", "--budget", "3", "--quiet", "--output", str(tmp_path / "run")]
    assert subprocess.run(command + ["--fail-under", "0.99", "--fail-on", "pass@2"]).returncode == 4
    assert subprocess.run(command + ["--fail-under", "0.0", "--fail-on", "pass@2"]).returncode == 0
    refused = subprocess.run(command + ["--fail-under", "0.5", "--fail-on", "pass@5"], capture_output=True, text=True)
    assert refused.returncode == 2 and "pass@K with K from 1 to the warm-up (2)" in refused.stderr
