"""The benchmarks' derived quantities, checked against the runs they stand in for (simulated backend)."""

import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.analysis import uniform_curve
from adaptive_batch.report import load_run


def _run(path, tmp_path, name, method, budget, **schedule):
    return run(RunConfig.from_dict({
        "data": {"path": str(path)},
        "backend": {"name": "simulated"},
        "retrieval": {"embedder": "hashing"},
        "schedule": {"method": method, "budget": budget, "warmup": 2, **schedule},
        "output_dir": str(tmp_path / name),
    }))


def test_uniform_best_of_n_from_an_elimination_run_capped_at_n(synthetic, tmp_path):
    # What benchmarks/uniform_first_pass.py relies on: capped elimination draws uniform's samples
    # up to each query's first pass, so uniform's coverage curve follows from the first passes.
    path, n = synthetic(80, seed=3), 6
    uniform = load_run(_run(path, tmp_path, "uniform", "uniform", n).run_dir)
    samples = load_run(_run(path, tmp_path, "capped", "elimination", n, max_per_query=n).run_dir).samples
    derived = uniform_curve(samples, 80, n)["curve"]
    assert len(samples) < n * 80  # some queries stopped at their first pass: the saving is real
    assert derived["coverage"] == [0.0] + uniform.curve["coverage"]
    drawn = {(s["query_id"], s["sample_index"]): s["text"] for s in samples}
    same = [drawn[(s["query_id"], s["sample_index"])] == s["text"]
            for s in uniform.samples if (s["query_id"], s["sample_index"]) in drawn]
    assert len(same) == len(samples) and all(same)
    # Prompt tokens are exact; uniform's total tokens differ only by the estimated generated ones.
    prompt_only = [t - g for t, g in zip(derived["total_tokens"], derived["generated_tokens"])]
    actual = [t - g for t, g in zip(uniform.curve["total_tokens"], uniform.curve["generated_tokens"])]
    assert [round(v, 6) for v in prompt_only[1:]] == [round(v, 6) for v in actual]


def test_compute_curves_merges_methods_from_result_files_of_the_same_settings(tmp_path):
    import json

    from adaptive_batch.analysis import merge_results as merged, methods_in

    def result(name, limit, budget, methods):
        rows = [{"seed": s, "uniform_at_budget": 0.5, **{m: {"coverage": 0.1 * s, "tag": name, "curve": {}}
                                                        for m in methods}} for s in (0, 1)]
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"settings": {"limit": limit, "budget": budget},
                                    "datasets": {"addsub": {"seeds": rows}}}))
        return str(path)

    first = result("a", 50, 16, ["uniform", "adaptive"])
    same = result("b", 50, 16, ["elimination", "adaptive", "adaptive-rotate8"])
    other = result("c", 200, 6, ["elimination"])
    out = merged([first, same, other])
    assert len(out) == 2
    rows = out[0]["datasets"]["addsub"]["seeds"]
    assert [methods_in(r) for r in rows] == [["uniform", "elimination", "adaptive", "adaptive-rotate8"]] * 2
    assert all(r["adaptive"]["tag"] == "a" and r["elimination"]["tag"] == "b" for r in rows)  # first file wins
    assert methods_in(out[1]["datasets"]["addsub"]["seeds"][0]) == ["elimination"]


@pytest.mark.parametrize("result", ["compute-curves.json", "compute-curves-first50-budget16.json",
                                    "cost-curves-first50-budget16.json"])
def test_committed_curves_replay_identically_from_their_committed_sources(result):
    """The library's arithmetic, run again over the committed inputs, gives the committed numbers."""
    import json
    from pathlib import Path

    from adaptive_batch.analysis import dataset_report, merge_results

    root = Path(__file__).resolve().parents[1]
    committed = json.loads((root / "benchmarks" / "results" / result).read_text())
    replayed = {}
    for loaded in merge_results([str(root / source) for source in committed["sources"]]):
        for name, dataset in loaded["datasets"].items():
            data = committed["datasets"][name]
            budgets = sorted(data["budgets_measured"] + data["budgets_not_measured"])
            replayed[name] = dataset_report(loaded["settings"], dataset["seeds"], budgets, loaded.get("parameters"))
    assert replayed == {name: {k: v for k, v in data.items() if k != "plot"}
                        for name, data in committed["datasets"].items()}


def test_cost_axes_and_coverage_at_equal_compute():
    from adaptive_batch.analysis import at_equal_compute, with_cost_axes

    # Per query after each round: prompt, cached and generated tokens.
    mine = {"samples": [0.0, 2.0, 4.0], "generated_tokens": [0, 20, 40], "total_tokens": [0, 420, 840],
            "prompt_tokens": [0, 400, 800], "cached_tokens": [0, 300, 600], "coverage": [0.0, 0.4, 0.7]}
    theirs = {"samples": [0.0, 2.0, 4.0, 6.0], "generated_tokens": [0, 20, 40, 60], "total_tokens": [0, 300, 600, 900],
              "prompt_tokens": [0, 280, 560, 840], "cached_tokens": [0, 100, 200, 300], "coverage": [0.0, 0.4, 0.6, 0.65]}
    curve = with_cost_axes(mine, parameters=10)
    assert curve["flops"][2] == 2 * 10 * (800 - 600 + 40)
    assert curve["cost_a"][2] == pytest.approx((200 * 2 + 600 * 0.5 + 40 * 8) / 1e6)
    assert curve["cost_b"][2] == pytest.approx((200 * 3 + 600 * 0.3 + 40 * 15) / 1e6)
    seeds = [{"adaptive": {"curve": curve}, "elimination": {"curve": with_cost_axes(theirs, parameters=10)}}]
    equal = at_equal_compute(seeds, "adaptive", "elimination", 4)
    # At 4 samples both spent the same: 0.7 against 0.6. In total tokens adaptive spent 840, which
    # elimination reaches at 5.6 samples: 0.64.
    assert equal["samples"]["difference"]["mean"] == pytest.approx(0.1)
    assert equal["total_tokens"]["other"]["mean"] == pytest.approx(0.6 + 0.05 * 240 / 300, abs=1e-3)
    assert equal["total_tokens"]["wins_or_ties"] == 1 and equal["samples"]["other_ran_out_seeds"] == 0


def test_a_replayed_vote_rule_draws_what_a_label_free_run_with_that_rule_draws(synthetic, tmp_path, monkeypatch):
    # What benchmarks/label_free_rules.py relies on: a uniform run's votes hold every sample label-free
    # elimination draws under any threshold rule (capped at the uniform run's samples a query).
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    from label_free_allocation import votes_by_query
    from label_free_order import replay

    from adaptive_batch.verifiers.consistency import ConsistencyVerifier

    path = synthetic(60, seed=5)

    def label_free(name, method, budget, **schedule):
        return run(RunConfig.from_dict({
            "data": {"path": str(path)}, "backend": {"name": "simulated"}, "retrieval": {"embedder": "hashing"},
            "verifier": {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.6}},
            "schedule": {"method": method, "budget": budget, "warmup": 2, **schedule},
            "output_dir": str(tmp_path / name)}))

    uniform = votes_by_query(str(label_free("uniform", "uniform", 8).run_dir))
    for budget in (3, 4.5):
        tool = votes_by_query(str(label_free(f"elim{budget}", "elimination", budget, max_per_query=8).run_dir))
        replayed = replay(uniform, budget, 2, 0, "least-settled", ConsistencyVerifier(min_votes=2, min_share=0.6), cap=8)
        assert replayed == tool
        assert {len(v) for v in tool.values()} != {len(next(iter(tool.values())))}  # queries got unequal samples


def test_a_run_that_bought_more_samples_than_the_budget_is_compared_at_its_end():
    """A budget in cost may buy more base-prompt samples than the budget in samples: the report
    compares such a method with elimination where its runs ended, as well as at each budget."""
    import math

    from adaptive_batch.analysis import at_equal_compute, dataset_report

    def curve(samples, coverage, prompt=200):
        return {"samples": samples, "generated_tokens": [10 * s for s in samples],
                "total_tokens": [(prompt + 10) * s for s in samples], "coverage": coverage}

    uniform = curve([0.0, 2.0, 4.0, 6.0, 8.0], [0.0, 0.3, 0.4, 0.45, 0.5])
    elimination = curve([0.0, 2.0, 4.0, 6.0, 8.0], [0.0, 0.3, 0.45, 0.5, 0.55])
    cheap = curve([0.0, 2.0, 4.0, 6.0, 7.5], [0.0, 0.3, 0.45, 0.5, 0.56], prompt=100)
    seeds = [{"seed": 0, "uniform": {"curve": uniform}, "elimination": {"curve": elimination},
              "cheap": {"curve": cheap}, "same": {"curve": curve([0.0, 2.0, 4.0, 6.0], [0.0, 0.3, 0.45, 0.5])}}]
    report = dataset_report({"budget": 6, "limit": 10}, seeds, [2, 4, 6])
    equal = report["at_equal_compute_against_elimination"]
    assert "end" in equal["cheap"] and "end" not in equal["same"]  # "same" ended at 6 samples
    assert equal["cheap"]["end"] == at_equal_compute(seeds, "cheap", "elimination", math.inf)
    # At its end (7.5 samples of 110 tokens = 825) elimination at 825 total tokens (3.93 samples) had 0.448.
    assert equal["cheap"]["end"]["total_tokens"]["method"]["mean"] == pytest.approx(0.56)
    assert equal["cheap"]["end"]["total_tokens"]["other"]["mean"] == pytest.approx(0.3 + 0.15 * (825 / 210 - 2) / 2, abs=1e-3)


def test_the_fewest_samples_to_match_self_consistency_takes_only_budgets_both_ran(monkeypatch):
    # label_free_table.py's "matches it with <= 60% of its samples": the smallest budget whose mean
    # accuracy reaches self-consistency's, among budgets actually run on every seed.
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    from label_free_table import fewest_samples_to_match

    def row(seed, runs):
        return {"seed": seed, "runs": {f"b{b:g}": {m: {"accuracy": a} for m, a in methods.items()}
                                       for b, methods in runs.items()}}

    rows = [row(0, {2.4: {"elimination": 0.30}, 3: {"elimination": 0.41}, 6: {"self-consistency": 0.40,
                                                                              "elimination": 0.50}}),
            row(1, {2.4: {"elimination": 0.30}, 3: {"elimination": 0.38}, 6: {"self-consistency": 0.40,
                                                                              "elimination": 0.50}}),
            row(2, {3.6: {"elimination": 0.99}, 6: {"self-consistency": 0.40, "elimination": 0.50}})]
    # 2.4 and 3 lack seed 2, so 3.6 (one seed) and 6 are the candidates: neither 2.4 nor 3 counts.
    assert fewest_samples_to_match(rows) == {"6": {
        "method": "elimination", "budget": 6.0, "share_of_samples": 1.0, "accuracy": 0.5,
        "self_consistency": 0.4, "seeds_at_or_above": "3/3"}}
    rows[2]["runs"].update({"b3": {"elimination": {"accuracy": 0.42}}})
    match = fewest_samples_to_match(rows)["6"]
    assert (match["budget"], match["share_of_samples"], match["seeds_at_or_above"]) == (3.0, 0.5, "2/3")
