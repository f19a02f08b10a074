"""Choosing a sample's demonstrations: the k nearest, or rotated among the nearest after a failure."""

import numpy as np
import pyarrow.parquet as pq

from adaptive_batch.records import without_measurements
import pytest

from adaptive_batch import ConfigError, RunConfig, run
from adaptive_batch.config import RetrievalConfig
from phases import DemonstrationChoice
from retrieval import DemonstrationPool

from .conftest import cut_log_into_adaptive, simulated_adaptive_run


def _pool(n: int = 200, dim: int = 16) -> DemonstrationPool:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pool = DemonstrationPool([f"q{i}" for i in range(n)], [f"question {i}" for i in range(n)], vectors)
    resolved = list(range(0, n, 2))
    pool.add_many(resolved, [f"answer {p}" for p in resolved])
    return pool


def _ids(demos) -> list[str]:
    return [d.query_id for d in demos]


def test_without_rotation_every_sample_sees_the_k_nearest():
    pool = _pool()
    choice = DemonstrationChoice(pool, "nearest", k=3, warmup=2)
    nearest = [_ids(d) for d in pool.nearest_many([1, 3], 3, 0.0)]
    for index in (2, 3, 9):
        got = choice.for_samples([1, 3], [index, index], [11 + index, 12 + index])
        assert [_ids(d) for d in got] == nearest


def test_rotation_shows_the_nearest_first_then_draws_among_the_nearest_few():
    pool = _pool()
    choice = DemonstrationChoice(pool, "nearest", k=3, warmup=2, rotate_among=8)
    among = pool.nearest_many([5], 8, 0.0)[0]  # least similar first
    similarity = {d.query_id: d.similarity for d in among}
    first = choice.for_samples([5], [2], [123])[0]
    assert _ids(first) == _ids(among[-3:])
    shown = set()
    for seed in range(40):
        demos = choice.for_samples([5], [3], [seed])[0]
        ids = _ids(demos)
        assert len(set(ids)) == 3 and set(ids) <= set(similarity)
        # Still least similar first, so the closest of the three sits next to the question.
        assert [d.similarity for d in demos] == sorted(similarity[i] for i in ids)
        assert choice.for_samples([5], [3], [seed])[0] == demos  # the sample's seed decides
        shown.update(ids)
    assert len(shown) == 8  # 40 draws of 3 from 8 reach every one of them


def test_rotation_starts_after_each_querys_own_warmup():
    pool = _pool()
    choice = DemonstrationChoice(pool, "nearest", k=2, warmup=2, rotate_among=6,
                                 warmup_targets=[4] * 200)
    nearest = _ids(pool.nearest_many([7], 2, 0.0)[0])
    assert all(_ids(choice.for_samples([7], [4], [seed])[0]) == nearest for seed in range(10))
    assert any(_ids(choice.for_samples([7], [5], [seed])[0]) != nearest for seed in range(10))


def test_rotate_among_must_exceed_k():
    with pytest.raises(ConfigError, match=r"rotate_among must be 0 \(off\) or in \(3, 32\]"):
        RetrievalConfig(k=3, rotate_among=3)
    with pytest.raises(ConfigError, match="rotate_among"):
        RetrievalConfig(rotate_among=33)


def test_a_rotating_run_varies_a_querys_demonstrations_and_is_reproducible(synthetic, tmp_path):
    path = synthetic(120, topics=6)

    def run_with(name, rotate_among):
        return run(RunConfig.from_dict({
            "data": {"path": str(path)},
            "backend": {"name": "simulated"},
            # Without retirement, which also changes a query's nearest: rotation alone is measured.
            "retrieval": {"embedder": "hashing", "min_similarity": 0.0, "rotate_among": rotate_among, "retire_after": 0},
            "schedule": {"method": "adaptive", "budget": 6, "warmup": 2},
            "output_dir": str(tmp_path / name),
        }))

    def distinct_sets_per_sample(result) -> float:
        sets: dict[str, set] = {}
        count = 0
        for r in pq.read_table(result.run_dir / "samples.parquet").to_pylist():
            if r["phase"] == "adaptive":
                sets.setdefault(r["query_id"], set()).add(tuple(r["demo_ids"]))
                count += 1
        return sum(len(s) for s in sets.values()) / count

    a, b, nearest = run_with("a", 10), run_with("b", 10), run_with("nearest", 0)
    assert [without_measurements(r) for r in pq.read_table(a.run_dir / "samples.parquet").to_pylist()] == [
        without_measurements(r) for r in pq.read_table(b.run_dir / "samples.parquet").to_pylist()]
    assert a.summary["samples"] <= 6 * 120
    # Without rotation a query's later samples repeat its nearest neighbours once they are resolved.
    assert distinct_sets_per_sample(a) > distinct_sets_per_sample(nearest) + 0.1


def _keep_run(path, tmp_path, name: str, keep: bool):
    # Without retirement, which takes a retired demonstration out of a kept block.
    return simulated_adaptive_run(path, tmp_path / name, keep_demonstrations=keep, retire_after=0)


def _blocks(result) -> dict[str, list[tuple[str, ...]]]:
    """Each query's adaptive samples' demonstration ids, in sample order."""
    rows = sorted(pq.read_table(result.run_dir / "samples.parquet").to_pylist(),
                  key=lambda r: (r["query_id"], r["sample_index"]))
    blocks: dict[str, list[tuple[str, ...]]] = {}
    for r in rows:
        if r["phase"] == "adaptive":
            blocks.setdefault(r["query_id"], []).append(tuple(r["demo_ids"]))
    return blocks


def _only_grows(sequence: list[tuple[str, ...]]) -> bool:
    """Each block starts with the one before it, so a retry's prompt starts with its last prompt."""
    return all(later[: len(earlier)] == earlier for earlier, later in zip(sequence, sequence[1:]))


def test_kept_demonstrations_only_grow_and_a_resumed_run_rebuilds_them_from_the_log(synthetic, tmp_path):
    path = synthetic(120, topics=6)
    nearest, kept = _keep_run(path, tmp_path, "nearest", False), _keep_run(path, tmp_path, "kept", True)
    kept_blocks = _blocks(kept)
    retried = [b for b in kept_blocks.values() if len(b) > 1]
    assert len(retried) >= 10
    assert all(_only_grows(b) for b in kept_blocks.values())
    assert all(len(set(block)) == len(block) <= 3 for b in kept_blocks.values() for block in b)
    # The k nearest change as the pool grows: without the option some query's block is replaced.
    assert not all(_only_grows(b) for b in _blocks(nearest).values())
    # Cut the log after the first adaptive rounds: the resumed run must show the same blocks.
    replayed = cut_log_into_adaptive(kept.run_dir, 40)
    resumed = _keep_run(path, tmp_path, "kept", True)
    assert resumed.summary["samples_replayed_from_log"] == replayed
    assert _blocks(resumed) == kept_blocks


def test_kept_demonstrations_cannot_rotate_or_be_chosen_online():
    with pytest.raises(ConfigError, match="keep_demonstrations shows a query the same demonstrations"):
        RetrievalConfig(keep_demonstrations=True, rotate_among=8)
    with pytest.raises(ConfigError, match="drop one of them"):
        RetrievalConfig(keep_demonstrations=True, prompt_choice="online")


def test_resolved_order_shows_the_same_demonstrations_oldest_resolved_first():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pool = DemonstrationPool([f"q{i}" for i in range(60)], [f"question {i}" for i in range(60)], vectors)
    resolved = rng.permutation(np.arange(1, 60))[:40].tolist()  # resolved in a shuffled order
    for start in range(0, 40, 10):  # four rounds
        pool.add_many(resolved[start:start + 10], [f"answer {p}" for p in resolved[start:start + 10]])
    rank = {f"q{p}": i for i, p in enumerate(resolved)}
    by_similarity = DemonstrationChoice(pool, "nearest", k=3, warmup=2)
    by_resolution = DemonstrationChoice(pool, "nearest", k=3, warmup=2, order="resolved")
    plain = by_similarity.for_samples([0], [2], [1])[0]
    ordered = by_resolution.for_samples([0], [2], [1])[0]
    assert set(_ids(ordered)) == set(_ids(plain))
    assert [rank[i] for i in _ids(ordered)] == sorted(rank[i] for i in _ids(plain))
    assert [d.similarity for d in plain] == sorted(d.similarity for d in plain)
    # Over many queries the two orders differ somewhere, so the option does something.
    positions = [p for p in range(60) if f"q{p}" not in rank]
    assert any(_ids(a) != _ids(b) for a, b in zip(by_similarity.for_samples(positions, [2] * 20, range(20)),
                                                  by_resolution.for_samples(positions, [2] * 20, range(20))))


def _order_run(path, tmp_path, order: str):
    return simulated_adaptive_run(path, tmp_path / order, demo_order=order)


def test_a_run_in_resolved_order_logs_every_prompts_demonstrations_oldest_first(synthetic, tmp_path):
    path = synthetic(120, topics=6)
    runs = {order: _order_run(path, tmp_path, order) for order in ("similarity", "resolved")}

    def in_resolution_order(result) -> list[bool]:
        rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
        resolved_in = {}
        for r in sorted(rows, key=lambda r: r["round"]):
            if r["passed"]:
                resolved_in.setdefault(r["query_id"], r["round"])
        return [[resolved_in[d] for d in r["demo_ids"]] == sorted(resolved_in[d] for d in r["demo_ids"])
                for r in rows if len(r["demo_ids"]) > 1]

    resolved, similarity = in_resolution_order(runs["resolved"]), in_resolution_order(runs["similarity"])
    assert len(resolved) >= 50 and all(resolved)
    assert not all(similarity)


def _retire_config(path, tmp_path, retire_after: int | None, name: str = "") -> RunConfig:
    retrieval = {"embedder": "hashing", "min_similarity": 0.0}
    return RunConfig.from_dict({
        "data": {"path": str(path)},
        "backend": {"name": "simulated"},
        "retrieval": retrieval if retire_after is None else {**retrieval, "retire_after": retire_after},
        "schedule": {"method": "adaptive", "budget": 10, "warmup": 2},
        "output_dir": str(tmp_path / (name or f"retire{retire_after}")),
    })


def _retire_run(path, tmp_path, retire_after: int):
    return run(_retire_config(path, tmp_path, retire_after))


def _shown_after_retiring(result, retire_after: int) -> int:
    """Samples showing a demonstration that, by the samples of the rounds before theirs, had been
    shown ``retire_after`` times without one of them passing."""
    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    use: dict[str, list[int]] = {}
    late = 0
    for round_ in sorted({r["round"] for r in rows}):
        batch = [r for r in rows if r["round"] == round_]
        late += sum(any(use.get(d, (0, 0))[0] >= retire_after and use[d][1] == 0 for d in r["demo_ids"])
                    for r in batch)
        for r in batch:
            for d in r["demo_ids"]:
                use.setdefault(d, [0, 0])
                use[d][0] += 1
                use[d][1] += r["passed"]
    return late


def test_a_demonstration_that_keeps_failing_is_retired(synthetic, tmp_path):
    path = synthetic(120, topics=6)
    plain, retiring = _retire_run(path, tmp_path, 0), _retire_run(path, tmp_path, 2)
    assert _shown_after_retiring(plain, 2) > 0  # without the option such demonstrations come back
    assert _shown_after_retiring(retiring, 2) == 0
    adaptive = [r for r in pq.read_table(retiring.run_dir / "samples.parquet").to_pylist() if r["phase"] == "adaptive"]
    assert sum(bool(r["demo_ids"]) for r in adaptive) >= 50  # the others still show demonstrations


def test_a_run_started_without_retirement_says_how_to_resume_under_the_new_default(synthetic, tmp_path):
    import json

    from adaptive_batch.errors import ResumeMismatchError

    path = synthetic(30, topics=3)
    started = _retire_run(path, tmp_path, 0)
    manifest = started.run_dir / "run.json"
    saved = json.loads(manifest.read_text())
    # As saved before the option existed: such a run never retired a demonstration.
    del saved["config"]["retrieval"]["retire_after"]
    manifest.write_text(json.dumps(saved))
    default = _retire_config(path, tmp_path, None, name="retire0")  # today's default, same directory
    assert default.retrieval.retire_after == 4
    with pytest.raises(ResumeMismatchError, match=r"retrieval\.retire_after was 0, now 4.*--retire-after"):
        run(default)
    resumed = _retire_run(path, tmp_path, 0)  # as the message says: the same directory, nothing generated again
    assert resumed.summary["samples"] == started.summary["samples"]


def test_a_run_started_in_similarity_order_says_how_to_resume_under_the_new_default(synthetic, tmp_path):
    import json

    from adaptive_batch.errors import ResumeMismatchError

    path = synthetic(30, topics=3)
    started = simulated_adaptive_run(path, tmp_path / "run", demo_order="similarity")
    manifest = started.run_dir / "run.json"
    saved = json.loads(manifest.read_text())
    # As saved before the order was an option: such a run showed the nearest demonstration last.
    del saved["config"]["retrieval"]["demo_order"]
    manifest.write_text(json.dumps(saved))
    with pytest.raises(ResumeMismatchError,
                       match=r"retrieval\.demo_order was 'similarity', now 'resolved'.*--demo-order similarity"):
        simulated_adaptive_run(path, tmp_path / "run")  # today's default, same directory
    resumed = simulated_adaptive_run(path, tmp_path / "run", demo_order="similarity")  # as the message says
    assert resumed.summary["samples"] == started.summary["samples"]
    assert RunConfig.from_dict({"data": {"path": str(path)}}).retrieval.demo_order == "resolved"


def test_every_third_adaptive_sample_of_a_query_shows_the_base_prompt(synthetic, tmp_path):
    path = synthetic(120, topics=6)
    result = simulated_adaptive_run(path, tmp_path / "base3", base_every=3)
    adaptive = [r for r in pq.read_table(result.run_dir / "samples.parquet").to_pylist() if r["phase"] == "adaptive"]
    turns = [r for r in adaptive if (r["sample_index"] - 2) % 3 == 2]  # warm-up 2: indices 4, 7, 10, ...
    assert len(turns) >= 10 and all(not r["demo_ids"] and r["prompt_kind"] == "base" for r in turns)
    others = [r for r in adaptive if (r["sample_index"] - 2) % 3 != 2]
    assert sum(bool(r["demo_ids"]) for r in others) >= 0.9 * len(others)
    assert result.summary["prompt_kinds"]["base"]["samples"] >= len(turns)
    with pytest.raises(ConfigError, match="base_every must be >= 0, got -1"):
        RetrievalConfig(base_every=-1)
    with pytest.raises(ConfigError, match="prompt_choice online chooses that itself"):
        RetrievalConfig(base_every=2, prompt_choice="online")


def test_every_fifth_adaptive_sample_shows_the_base_prompt_by_default_for_the_adaptive_method_only(tmp_path):
    data = {"path": str(tmp_path / "data.jsonl")}
    assert RunConfig.from_dict({"data": data}).retrieval.base_every == 5
    assert RunConfig.from_dict({"data": data, "schedule": {"method": "elimination"}}).retrieval.base_every == 0
    assert RunConfig.from_dict({"data": data, "schedule": {"method": "random-demos"}}).retrieval.base_every == 0
    # The online choice picks base prompts itself; a label-free run's default method is elimination.
    assert RunConfig.from_dict({"data": data, "retrieval": {"prompt_choice": "online"}}).retrieval.base_every == 0
    assert RunConfig.from_dict({"data": data, "verifier": {"name": "consistency"}}).retrieval.base_every == 0
    assert RunConfig.from_dict({"data": data, "retrieval": {"base_every": 3}}).retrieval.base_every == 3
    with pytest.raises(ConfigError, match=r"base_ramp .* needs base_every >= 2 \(the elimination method's is 0\)"):
        RunConfig.from_dict({"data": data, "schedule": {"method": "elimination"}, "retrieval": {"base_ramp": True}})
    with pytest.raises(ConfigError, match="base_every must be >= 2 with it, got 1"):
        RetrievalConfig(base_every=1, base_ramp=True)


def test_a_run_started_without_base_prompt_turns_says_how_to_resume_under_the_new_default(synthetic, tmp_path):
    import json

    from adaptive_batch.errors import ResumeMismatchError

    path = synthetic(30, topics=3)
    started = simulated_adaptive_run(path, tmp_path / "run", base_every=0)
    manifest = started.run_dir / "run.json"
    saved = json.loads(manifest.read_text())
    del saved["config"]["retrieval"]["base_every"]  # as saved before the option existed: no base turns
    manifest.write_text(json.dumps(saved))
    with pytest.raises(ResumeMismatchError, match=r"retrieval\.base_every was 0, now 5.*--base-every with the value"):
        simulated_adaptive_run(path, tmp_path / "run")  # today's default, same directory
    resumed = simulated_adaptive_run(path, tmp_path / "run", base_every=0)  # as the message says
    assert resumed.summary["samples"] == started.summary["samples"]


def test_with_base_ramp_a_querys_base_prompt_turns_come_closer_together(synthetic, tmp_path):
    from phases.demonstrations import is_base_turn

    assert [j for j in range(20) if is_base_turn(j, 5, ramp=False)] == [4, 9, 14, 19]
    assert [j for j in range(20) if is_base_turn(j, 5, ramp=True)] == [4, 8, 11, 13, 15, 17, 19]
    assert [j for j in range(9) if is_base_turn(j, 2, ramp=True)] == [1, 3, 5, 7]
    path = synthetic(60, topics=6)
    result = run(RunConfig.from_dict({  # demonstrations that do not help: the hard queries reach the closer turns
        "data": {"path": str(path)}, "backend": {"name": "simulated", "options": {"useless_demos": True}},
        "retrieval": {"embedder": "hashing", "min_similarity": 0.0, "base_every": 5, "base_ramp": True,
                      "retire_after": 0},  # useless demonstrations would be retired: the turns alone
        "schedule": {"method": "adaptive", "budget": 16, "warmup": 2}, "output_dir": str(tmp_path / "ramp")}))
    adaptive = [r for r in pq.read_table(result.run_dir / "samples.parquet").to_pylist() if r["phase"] == "adaptive"]
    turns = {2 + j for j in range(48) if is_base_turn(j, 5, ramp=True)}  # warm-up 2; pinned above
    assert any(r["sample_index"] >= 2 + 11 for r in adaptive)  # the run reaches the closer turns
    assert all((r["prompt_kind"] == "base" and not r["demo_ids"]) for r in adaptive if r["sample_index"] in turns)
    others = [r for r in adaptive if r["sample_index"] not in turns]
    assert sum(bool(r["demo_ids"]) for r in others) >= 0.9 * len(others)
