"""Continuous scheduling on the simulated backend, with and without a simulated engine latency."""

from collections import Counter

import pyarrow.parquet as pq
import pytest

from adaptive_batch import ConfigError, RunConfig, run


def config(path, tmp_path, name, method="adaptive", budget=4.0, continuous=True, backend=None, **schedule):
    return RunConfig.from_dict({
        "data": {"path": str(path)},
        "backend": backend or {"name": "simulated"},
        "retrieval": {"embedder": "hashing", "min_similarity": 0.0},
        "schedule": {"method": method, "budget": budget, "warmup": 2, "continuous": continuous, **schedule},
        "output_dir": str(tmp_path / name),
    })


def rows(result):
    return pq.read_table(result.run_dir / "samples.parquet").to_pylist()


TIMED = {"name": "simulated", "options": {"latency_s": 0.03, "latency_sigma": 1.0, "slots": 8}}


@pytest.mark.parametrize("method", ["adaptive", "elimination", "random-demos", "uniform"])
def test_budget_caps_and_early_stop_hold_without_rounds(synthetic, tmp_path, method):
    result = run(config(synthetic(80), tmp_path, method, method, budget=3.5, backend=TIMED, max_per_query=6))
    samples = rows(result)
    assert len(samples) == result.summary["samples"] <= int(3.5 * 80)
    per_query = Counter(r["query_id"] for r in samples)
    assert max(per_query.values()) <= 6
    # Every query's sample indexes are 0..n-1: none skipped, none drawn twice.
    for query_id, n in per_query.items():
        assert sorted(r["sample_index"] for r in samples if r["query_id"] == query_id) == list(range(n))
    if method == "uniform":
        assert set(per_query.values()) <= {3, 4}
    else:
        for query_id in per_query:
            mine = sorted((r for r in samples if r["query_id"] == query_id), key=lambda r: r["sample_index"])
            passed = [r["passed"] for r in mine]
            assert True not in passed[:-1], f"{method} sampled {query_id} again after it was resolved"


def test_warmup_comes_first_and_demonstrations_are_resolved_queries(synthetic, tmp_path):
    result = run(config(synthetic(60), tmp_path, "demos", backend=TIMED))
    samples = rows(result)
    assert all(r["phase"] == "warmup" and not r["demo_ids"] for r in samples if r["sample_index"] < 2)
    assert all(r["phase"] == "adaptive" for r in samples if r["sample_index"] >= 2)
    first_pass = {}
    for r in sorted(samples, key=lambda r: r["round"]):
        for demo in r["demo_ids"]:
            assert demo in first_pass and first_pass[demo] < r["round"], "a demonstration that was not yet resolved"
        if r["passed"]:
            first_pass.setdefault(r["query_id"], r["round"])
    assert any(r["demo_ids"] for r in samples)


def test_same_seeds_as_round_mode_for_the_base_prompt_samples(synthetic, tmp_path):
    path = synthetic(40)
    rounds = {(r["query_id"], r["sample_index"]): r for r in rows(run(config(path, tmp_path, "r", continuous=False)))}
    continuous = rows(run(config(path, tmp_path, "c", backend=TIMED)))
    warm = [r for r in continuous if r["sample_index"] < 2]
    assert warm and all(r["seed"] == rounds[(r["query_id"], r["sample_index"])]["seed"] for r in warm)
    assert all(r["text"] == rounds[(r["query_id"], r["sample_index"])]["text"] for r in warm)


def test_continuous_keeps_the_engine_slots_fuller_than_rounds(synthetic, tmp_path):
    path = synthetic(120)
    occupancy = {}
    for continuous in (False, True):
        result = run(config(path, tmp_path, f"busy-{continuous}", budget=4, continuous=continuous, backend=TIMED))
        engine = result.summary["backend_stats"]["engine"]
        assert engine["requests"] == result.summary["samples_generated"]
        occupancy[continuous] = engine["slot_occupancy"]
    # Rounds of ~120 requests over 8 slots with log-normal service times leave slots idle at every
    # round's end; continuous dispatch refills them. The benchmark measures by how much.
    assert occupancy[True] > occupancy[False]


def test_an_interrupted_continuous_run_logs_what_was_in_flight_and_resumes(synthetic, tmp_path):
    path = synthetic(60)
    calls = {"n": 0}

    def stop_after_some():
        calls["n"] += 1
        return calls["n"] > 12

    cfg = config(path, tmp_path, "stop", backend=TIMED)
    first = run(cfg, should_stop=stop_after_some)
    assert first.summary["status"] == "interrupted"
    logged = first.summary["samples"]
    assert 0 < logged < 240
    resumed = run(cfg)
    assert resumed.summary["status"] == "complete"
    assert resumed.summary["samples_replayed_from_log"] == logged
    assert resumed.summary["samples"] <= 240
    keys = [(r["query_id"], r["sample_index"]) for r in rows(resumed)]
    assert len(keys) == len(set(keys))


def test_max_rounds_with_continuous_is_a_config_error(synthetic, tmp_path):
    with pytest.raises(ConfigError, match="max_rounds has no meaning with continuous"):
        config(synthetic(5), tmp_path, "x", max_rounds=3)
