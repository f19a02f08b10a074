"""pass@k and maj@k from the warm-up: the estimators against enumeration, their agreement across methods,
and the gate on them."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from collections import Counter

import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.estimates import maj_at_k, pass_at_k, warmup_pass_at_k


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
    assert refused.returncode == 2 and "pass@K or maj@K with K from 1 to the warm-up (2)" in refused.stderr
    # maj@K needs the warm-up drawn whole: an adaptive run stops a query's warm-up at its first pass.
    absent = subprocess.run(command + ["--fail-under", "0.5", "--fail-on", "maj@2"], capture_output=True, text=True)
    assert absent.returncode == 2 and "maj@K also a warm-up drawn whole" in " ".join(absent.stderr.split())
    whole = subprocess.run(command[:-1] + [str(tmp_path / "whole"), "--fail-under", "0.0", "--fail-on", "maj@2",
                                           "--warmup-together"])
    assert whole.returncode == 0


def _brute_pass_at_k(passes: list[bool], k: int) -> float:
    subsets = list(itertools.combinations(range(len(passes)), k))
    return sum(any(passes[i] for i in s) for s in subsets) / len(subsets)


def _brute_maj_at_k(answers: list, right: set, k: int) -> float:
    """Every k-subset's majority, ties split evenly, by enumeration."""
    subsets = list(itertools.combinations(range(len(answers)), k))
    total = 0.0
    for s in subsets:
        votes = Counter(answers[i] for i in s if answers[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        tied = [a for a, v in votes.items() if v == top]
        total += sum(a in right for a in tied) / len(tied)
    return total / len(subsets)


@pytest.mark.parametrize("seed", range(40))
def test_pass_at_k_and_maj_at_k_equal_brute_force_enumeration(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 8)
    answers = [rng.choice(["1", "2", "3", None]) for _ in range(n)]
    right = set(rng.sample(["1", "2", "3"], rng.randint(0, 2)))
    for k in range(1, n + 1):
        assert maj_at_k(answers, right.__contains__, k) == pytest.approx(_brute_maj_at_k(answers, right, k))
        passes = [a in right for a in answers]
        assert pass_at_k(n, sum(passes), k) == pytest.approx(_brute_pass_at_k(passes, k))


def test_maj_at_k_by_hand():
    # 3 samples: "4", "4", "5" with "4" right. k=1: 2/3; k=2: {44}=1, {45}x2 tie=1/2 each -> 2/3; k=3: 1.
    assert maj_at_k(["4", "4", "5"], {"4"}.__contains__, 1) == pytest.approx(2 / 3)
    assert maj_at_k(["4", "4", "5"], {"4"}.__contains__, 2) == pytest.approx(2 / 3)
    assert maj_at_k(["4", "4", "5"], {"4"}.__contains__, 3) == 1.0
    assert maj_at_k([None, None], {"4"}.__contains__, 2) == 0.0  # no answer: wrong


def test_a_drawn_whole_warmup_reports_maj_at_k_and_a_label_free_run_gets_it_from_score(synthetic, tmp_path):
    from adaptive_batch.scoring import score_run
    from adaptive_batch.config import DataConfig

    path = synthetic(30, seed=2)
    base = {"data": {"path": str(path)}, "backend": {"name": "simulated"}, "retrieval": {"embedder": "hashing"}}
    uniform = run(RunConfig.from_dict({**base, "schedule": {"method": "uniform", "budget": 3, "warmup": 3},
                                       "output_dir": str(tmp_path / "u")}))
    estimates = uniform.summary["estimates"]
    assert {"pass@1", "pass@3", "maj@1", "maj@3"} <= set(estimates)
    assert estimates["maj@1"]["value"] == estimates["pass@1"]["value"]  # one sample: its answer is the majority
    assert "ties split" in estimates["maj@2"]["produced_by"]
    label_free = run(RunConfig.from_dict({**base, "schedule": {"budget": 4, "warmup": 3},
                                          "verifier": {"name": "consistency", "options": {"min_votes": 4}},
                                          "output_dir": str(tmp_path / "lf")}))
    assert label_free.summary["estimates"] is None  # no labels in the run
    scored = score_run(label_free.run_dir, DataConfig(path=str(path)))
    # The same seeds draw the same warm-up as uniform's: the same maj@k, now from the references.
    assert scored["estimates"]["maj@3"]["value"] == pytest.approx(estimates["maj@3"]["value"], abs=1e-4)
    from adaptive_batch.report import load_run
    from adaptive_batch.report.html import render

    page = render([load_run(uniform.run_dir), load_run(label_free.run_dir)], {})
    section = page.split("Estimates comparable night to night", 1)[1].split("</table>", 1)[0]
    assert section.count(">maj@3<") == 2 and section.count(">pass@3<") == 1  # the label-free run's from its score
