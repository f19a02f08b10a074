"""Demonstration blocks shared by a group of queries (``--demo-groups``)."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from adaptive_batch import ConfigError
from adaptive_batch.config import RetrievalConfig
from phases import DemonstrationChoice
from retrieval import DemonstrationPool
from retrieval.groups import group_queries

from .conftest import cut_log_into_adaptive, simulated_adaptive_run


def _clustered_vectors(clusters: int = 4, per: int = 30, dim: int = 16, seed: int = 5):
    """Rows near ``clusters`` far-apart directions, shuffled; the true cluster of each row."""
    rng = np.random.default_rng(seed)
    directions = np.eye(dim, dtype=np.float32)[:clusters]
    truth = rng.permutation(np.repeat(np.arange(clusters), per))
    vectors = directions[truth] + 0.15 * rng.normal(size=(len(truth), dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), truth


def test_grouping_finds_the_clusters_assigns_each_query_its_nearest_centre_and_repeats_itself():
    vectors, truth = _clustered_vectors()
    labels, centres = group_queries(vectors, 4, seed=0)
    assert centres.shape == (4, vectors.shape[1])
    assert np.allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(labels, np.argmax(vectors @ centres.T, axis=1))
    # One group per cluster: the grouping is the clustering, up to the names of the groups.
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == 4 and len({g for _, g in pairs}) == 4
    again, centres_again = group_queries(vectors, 4, seed=0)
    assert np.array_equal(again, labels) and np.array_equal(centres_again, centres)
    # More groups than queries: one a query at most.
    few, _ = group_queries(vectors[:3], 10, seed=1)
    assert len(few) == 3 and few.max() < 3


def _grouped_pool(groups: int = 4, exact_limit: int = 50_000):
    vectors, truth = _clustered_vectors()
    n = len(vectors)
    pool = DemonstrationPool([f"q{i}" for i in range(n)], [f"question {i}" for i in range(n)], vectors,
                             exact_limit=exact_limit)
    resolved = list(range(0, n, 3))
    pool.add_many(resolved, [f"answer {p}" for p in resolved])
    pool.group(groups, seed=0)
    return pool, vectors, resolved


def test_every_query_of_a_group_sees_one_block_the_resolved_queries_nearest_its_centre():
    pool, vectors, resolved = _grouped_pool()
    open_queries = [p for p in range(len(vectors)) if p not in resolved]
    blocks = pool.nearest_of_groups(open_queries, 3, 0.0)
    by_group: dict[int, set] = {}
    for position, block in zip(open_queries, blocks):
        assert len(block) == 3
        by_group.setdefault(pool.group_of(position), set()).add(tuple(d.query_id for d in block))
    assert len(by_group) == 4 and all(len(shown) == 1 for shown in by_group.values())
    labels, centres = group_queries(vectors, 4, seed=0)
    for group, (block,) in by_group.items():
        scores = vectors[resolved] @ centres[group]
        nearest = [f"q{resolved[i]}" for i in np.argsort(-scores, kind="stable")[:3]]
        assert list(block) == nearest[::-1]  # least similar first, the nearest next to the question
    # A demonstration's similarity is to the query it is shown to.
    d = blocks[0][0]
    assert d.similarity == pytest.approx(float(vectors[int(d.query_id[1:])] @ vectors[open_queries[0]]), abs=1e-6)
    # A resolved query is not its own demonstration.
    assert all(f"q{p}" not in {d.query_id for d in block}
               for p, block in zip(resolved, pool.nearest_of_groups(resolved, 3, 0.0)))


def test_a_large_runs_clustered_index_gives_the_same_blocks():
    exact, vectors, resolved = _grouped_pool()
    clustered, _, _ = _grouped_pool(exact_limit=10)
    assert clustered.index_kind.startswith("ivf")
    # Every list is probed at this size, so the clustered search is exact.
    everyone = list(range(len(vectors)))
    assert [[d.query_id for d in b] for b in clustered.nearest_of_groups(everyone, 3, 0.0)] == \
        [[d.query_id for d in b] for b in exact.nearest_of_groups(everyone, 3, 0.0)]


def test_a_grouped_choice_shows_each_query_its_groups_block_labelled_grouped():
    pool, vectors, resolved = _grouped_pool()
    open_queries = [p for p in range(len(vectors)) if p not in resolved]
    choice = DemonstrationChoice(pool, "nearest", k=3, warmup=2, grouped=True)
    chosen = choice.choose(open_queries, [2] * len(open_queries), list(range(len(open_queries))))
    assert {kind for _, kind in chosen} == {"grouped"}
    assert [d for d, _ in chosen] == [tuple(b) for b in pool.nearest_of_groups(open_queries, 3, 0.0)]


def test_demo_groups_cannot_be_combined_with_a_querys_own_choice():
    assert RetrievalConfig(demo_groups=8).demo_groups == 8
    for clash in ({"rotate_among": 8}, {"keep_demonstrations": True}, {"prompt_choice": "online"}):
        with pytest.raises(ConfigError, match="demo_groups shows every query of a group one block"):
            RetrievalConfig(demo_groups=8, **clash)
    with pytest.raises(ConfigError, match=r"demo_groups must be in \[0, 4096\], got 5000"):
        RetrievalConfig(demo_groups=5000)


def _run(path, tmp_path, groups: int):
    return simulated_adaptive_run(path, tmp_path / f"groups{groups}", demo_groups=groups)


def _blocks_by_round(result) -> dict[int, set]:
    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    blocks: dict[int, set] = {}
    for r in rows:
        if r["demo_ids"]:
            blocks.setdefault(r["round"], set()).add(tuple(r["demo_ids"]))
    return blocks


def test_a_grouped_run_shows_at_most_one_block_a_group_each_round_and_resumes_to_the_same_blocks(synthetic, tmp_path):
    path = synthetic(120, topics=6)
    grouped, plain = _run(path, tmp_path, 3), _run(path, tmp_path, 0)
    blocks, plain_blocks = _blocks_by_round(grouped), _blocks_by_round(plain)
    assert sum(len(b) for b in blocks.values()) >= 3  # it did show demonstrations, in several rounds
    assert all(len(b) <= 3 for b in blocks.values())
    assert any(len(b) > 3 for b in plain_blocks.values())  # each query's own: many blocks a round
    kinds = grouped.summary["prompt_kinds"]
    assert "grouped" in kinds and "nearest" not in kinds
    # Cut the log after the first adaptive samples: the resumed run rebuilds the groups from the seed
    # and draws the same samples with the same blocks.
    before = pq.read_table(grouped.run_dir / "samples.parquet").to_pylist()
    kept = cut_log_into_adaptive(grouped.run_dir, 20)
    resumed = _run(path, tmp_path, 3)
    assert resumed.summary["samples_replayed_from_log"] == kept
    after = pq.read_table(resumed.run_dir / "samples.parquet").to_pylist()
    key = lambda r: (r["query_id"], r["sample_index"])  # noqa: E731
    assert [(key(r), r["demo_ids"], r["passed"]) for r in sorted(after, key=key)] == \
        [(key(r), r["demo_ids"], r["passed"]) for r in sorted(before, key=key)]
