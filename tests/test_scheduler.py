"""Scheduling logic on the simulated backend (registered like any plugin) and the hashing embedder."""

import json
from collections import Counter

import pyarrow.parquet as pq

from adaptive_batch.records import without_measurements
import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.errors import ConfigError, ResumeMismatchError


def config(path, tmp_path, method="adaptive", budget=4.0, warmup=2, seed=0, name=None, **schedule):
    return RunConfig.from_dict(
        {
            "data": {"path": str(path)},
            "backend": {"name": "simulated"},
            "retrieval": {"embedder": "hashing", "min_similarity": 0.0},
            "schedule": {"method": method, "budget": budget, "warmup": warmup, **schedule},
            "seed": seed,
            "output_dir": str(tmp_path / (name or f"{method}-{budget}-{seed}")),
        }
    )


def results(result):
    return [without_measurements(r) for r in result.results_table().to_pylist()]


def samples(result):
    return [without_measurements(r) for r in pq.read_table(result.run_dir / "samples.parquet").to_pylist()]


@pytest.mark.parametrize("method", ["adaptive", "elimination", "random-demos", "uniform"])
def test_budget_is_never_exceeded_and_tokens_are_counted(synthetic, tmp_path, method):
    path = synthetic(60)
    result = run(config(path, tmp_path, method, budget=3.5))
    rows = samples(result)
    assert len(rows) == result.summary["samples"] <= 3.5 * 60
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 for r in rows)
    assert len({(r["query_id"], r["sample_index"]) for r in rows}) == len(rows)


def test_uniform_gives_every_query_the_same_samples_without_early_stop(synthetic, tmp_path):
    result = run(config(synthetic(40), tmp_path, "uniform", budget=5))
    per_query = Counter(r["query_id"] for r in samples(result))
    assert set(per_query.values()) == {5}
    assert result.summary["samples"] == 200


def test_early_stop_methods_never_sample_a_resolved_query_again(synthetic, tmp_path):
    for method in ("elimination", "adaptive"):
        rows = sorted(samples(run(config(synthetic(60), tmp_path, method, budget=4))), key=lambda r: r["round"])
        resolved_at = {}
        for r in rows:
            assert r["query_id"] not in resolved_at, f"{method} sampled a resolved query"
            if r["passed"]:
                resolved_at[r["query_id"]] = r["round"]


def test_warmup_uses_the_base_prompt_and_adaptive_uses_only_resolved_demonstrations(synthetic, tmp_path):
    result = run(config(synthetic(60), tmp_path, "adaptive", budget=4))
    rows = sorted(samples(result), key=lambda r: r["round"])
    resolved_by_round: dict[int, set] = {}
    resolved = set()
    for r in rows:
        if r["phase"] == "warmup":
            assert r["demo_ids"] == []
        else:
            # Demonstrations may come only from queries resolved in an earlier round.
            assert set(r["demo_ids"]) <= resolved_by_round.get(r["round"] - 1, set())
            assert r["query_id"] not in r["demo_ids"]
        if r["passed"]:
            resolved.add(r["query_id"])
        resolved_by_round[r["round"]] = set(resolved)
    assert any(r["demo_ids"] for r in rows if r["phase"] == "adaptive")


def test_per_query_cap_and_round_limit(synthetic, tmp_path):
    rows = samples(run(config(synthetic(30), tmp_path, "elimination", budget=10, max_per_query=4, name="cap")))
    assert max(Counter(r["query_id"] for r in rows).values()) <= 4
    rows = samples(run(config(synthetic(30), tmp_path, "elimination", budget=10, max_rounds=1, name="rounds")))
    assert max(r["round"] for r in rows) <= 2


def test_same_seed_same_results_other_seed_other_results(synthetic, tmp_path):
    path = synthetic(50)
    a = run(config(path, tmp_path, seed=7, name="a"))
    b = run(config(path, tmp_path, seed=7, name="b"))
    c = run(config(path, tmp_path, seed=8, name="c"))
    assert samples(a) == samples(b)
    assert results(a) == results(b)
    assert [r["seed"] for r in samples(a)] != [r["seed"] for r in samples(c)]


def test_first_rounds_of_uniform_are_uniform_at_a_smaller_budget(synthetic, tmp_path):
    """What the benchmark relies on to read uniform's whole curve off one run."""
    path = synthetic(40)
    small = samples(run(config(path, tmp_path, "uniform", budget=3, name="u3")))
    large = samples(run(config(path, tmp_path, "uniform", budget=6, name="u6")))
    key = lambda r: (r["query_id"], r["sample_index"])  # noqa: E731
    assert sorted(small, key=key) == sorted((r for r in large if r["round"] < 3), key=key)


def test_demonstrations_from_similar_neighbours_raise_coverage(synthetic, tmp_path):
    """In the simulator, same-topic demonstrations help and random ones rarely share a topic."""
    path = synthetic(300, topics=30)
    coverage = {
        m: sum(run(config(path, tmp_path, m, budget=4, seed=s)).coverage for s in range(3)) / 3
        for m in ("adaptive", "random-demos", "elimination")
    }
    assert coverage["adaptive"] > coverage["random-demos"] + 0.02
    assert coverage["adaptive"] > coverage["elimination"] + 0.05


def test_resume_after_a_torn_log_reproduces_the_uninterrupted_run(synthetic, tmp_path):
    path = synthetic(50)
    whole = run(config(path, tmp_path, name="whole"))
    # Simulate a kill: keep the first rounds of the log and half of the next record.
    cut = config(path, tmp_path, name="cut")
    run(cut)
    log = cut_dir = tmp_path / "cut" / "samples.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:70]) + lines[70][:25])
    for name in ("samples.parquet", "results.parquet", "results.jsonl", "summary.json"):
        (cut_dir.parent / name).unlink()
    resumed = run(cut)
    assert resumed.summary["samples_replayed_from_log"] == 70
    assert resumed.summary["samples_generated"] == whole.summary["samples"] - 70
    assert samples(resumed) == samples(whole)
    assert results(resumed) == results(whole)


def test_resume_with_a_changed_config_or_dataset_is_refused(synthetic, tmp_path):
    path = synthetic(20)
    run(config(path, tmp_path, name="r"))
    with pytest.raises(ResumeMismatchError, match=r"schedule.budget was 4.0, now 5.0"):
        run(config(path, tmp_path, budget=5, name="r"))
    path.write_text(path.read_text().replace("syn-0", "syn-x"))
    with pytest.raises(ResumeMismatchError, match="dataset_sha256 was"):
        run(config(path, tmp_path, name="r"))


def test_summary_reports_phases_and_timings(synthetic, tmp_path):
    summary = run(config(synthetic(30), tmp_path)).summary
    assert set(summary["by_phase"]) == {"warmup", "adaptive"}
    assert sum(p["samples"] for p in summary["by_phase"].values()) == summary["samples"]
    assert summary["coverage"] == summary["resolved"] / 30
    assert "generation" in summary["time_s"] and summary["versions"]["python"]
    assert json.loads((tmp_path / "adaptive-4.0-0" / "summary.json").read_text()) == summary


def test_escalation_sends_late_samples_to_the_second_backend_and_accounts_its_cost(synthetic, tmp_path):
    from dataclasses import replace

    from adaptive_batch.backends.simulated import SimulatedBackend
    from adaptive_batch.config import EscalationConfig

    path = synthetic(60)
    base = config(path, tmp_path, method="elimination", budget=5, name="plain")
    plain = run(base)
    escalating = replace(base, output_dir=str(tmp_path / "escalated"),
                         escalation=EscalationConfig(model="strong.gguf", after=3, cost_weight=4.0))
    result = run(escalating, escalation_backend=SimulatedBackend(skill=0.5))
    rows = samples(result)
    assert {r["engine"] for r in rows if r["sample_index"] < 3} == {"main"}
    assert {r["engine"] for r in rows if r["sample_index"] >= 3} == {"escalated"}
    by_engine = result.summary["by_engine"]
    assert by_engine["main"]["samples"] + by_engine["escalated"]["samples"] == result.summary["samples"]
    assert result.summary["cost_samples"] == by_engine["main"]["samples"] + 4 * by_engine["escalated"]["samples"]
    assert result.summary["escalation_model"] == "simulated:boost=0.25,skill=0.5"
    assert result.coverage > plain.coverage


def test_an_escalated_model_gets_its_own_prompt_style_and_a_cost_weight_from_the_parameter_counts(synthetic, tmp_path):
    """A base model escalating to a chat model: the escalated samples were sent chat messages (rebuilt
    from the log), the main ones text; the cost weight is the parameter ratio; the report's engine table
    accounts for every sample and every resolved query."""
    from dataclasses import replace

    from adaptive_batch.backends.simulated import SimulatedBackend
    from adaptive_batch.config import EscalationConfig
    from adaptive_batch.prompt_replay import rebuild_prompt
    from adaptive_batch.report.data import engine_breakdown, load_run

    base = config(synthetic(40), tmp_path, method="elimination", budget=5, name="styles")
    escalating = replace(base, escalation=EscalationConfig(model="chat.gguf", after=2, prompt_style="chat"))
    result = run(escalating, escalation_backend=SimulatedBackend(skill=0.3, parameters=3_000_000))
    rows = samples(result)
    main = next(r for r in rows if r["engine"] == "main")
    escalated = next(r for r in rows if r["engine"] == "escalated")
    assert isinstance(rebuild_prompt(result.run_dir, main["query_id"], main["sample_index"]), str)
    messages = rebuild_prompt(result.run_dir, escalated["query_id"], escalated["sample_index"])
    assert isinstance(messages, tuple) and messages[0]["role"] == "system"
    assert result.summary["escalation_cost_weight"]["weight"] == 3.0
    assert result.summary["cost_samples"] == pytest.approx(
        result.summary["by_engine"]["main"]["samples"] + 3 * result.summary["by_engine"]["escalated"]["samples"])
    table = engine_breakdown(load_run(result.run_dir))
    assert {e["engine"] for e in table} == {"main", "escalated"}
    assert sum(e["samples"] for e in table) == result.summary["samples"]
    assert sum(e["queries_resolved_first"] for e in table) == result.summary["resolved"]
    assert all(e["flops"] > 0 for e in table)


def test_a_run_from_before_a_new_option_existed_still_resumes(synthetic, tmp_path):
    path = synthetic(20)
    first = run(config(path, tmp_path, name="old"))
    manifest_path = first.run_dir / "run.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["config"]["escalation"]  # as written by a version without escalation
    manifest_path.write_text(json.dumps(manifest))
    log = (first.run_dir / "samples.jsonl").read_bytes()
    again = run(config(path, tmp_path, name="old"))
    # Resumed, not refused and not generated again; the finished summary stays the first run's.
    assert (first.run_dir / "samples.jsonl").read_bytes() == log and again.summary == first.summary


def test_lagrangian_allocation_meets_the_budget_exactly_and_favours_the_middle():
    from phases.allocator import allocate

    p = [0.9, 0.5, 0.02, 0.3]
    budgets = allocate(p, total=8, most=6)
    assert sum(budgets) == 8 and all(0 <= b <= 6 for b in budgets)
    assert budgets[0] == 1  # easy: one sample, then 0.9 * 0.1 is worth less than the others' samples
    assert budgets[2] <= 1  # nearly hopeless: little
    assert budgets[3] >= budgets[1]  # harder but possible: more
    gains = [p[i] * (1 - p[i]) ** budgets[i] for i in range(4) if budgets[i] < 6]
    spent = [p[i] * (1 - p[i]) ** (budgets[i] - 1) for i in range(4) if budgets[i] > 0]
    assert min(spent) >= max(gains)  # the Lagrangian cut-off: every sample given beats every one withheld


def test_learn_then_run_with_the_allocator(synthetic, tmp_path):
    from typer.testing import CliRunner

    from adaptive_batch.cli import app

    train = synthetic(80, seed=1)
    history = run(config(train, tmp_path, method="uniform", budget=4, name="history"))
    out = CliRunner().invoke(app, ["learn", str(history.run_dir), "-o", str(tmp_path / "allocator"),
                                   "--embedder", "hashing"])
    assert out.exit_code == 0, out.output
    data = synthetic(60, seed=2)
    base = config(data, tmp_path, method="elimination", budget=4, name="plain")
    learned = RunConfig.from_dict({**base.to_dict(), "output_dir": str(tmp_path / "learned"),
                                   "schedule": {**base.to_dict()["schedule"], "allocator": str(tmp_path / "allocator")}})
    result = run(learned)
    warmup = [r for r in samples(result) if r["phase"] == "warmup"]
    per_query = Counter(r["query_id"] for r in warmup)
    assert len(warmup) <= 2 * 60 and len(set(per_query.values())) > 1  # not uniform any more
    assert result.summary["samples"] <= 4 * 60


@pytest.mark.parametrize("demo_mode", ["add", "replace", "auto"])
@pytest.mark.parametrize("style", ["completion", "chat"])
def test_prompt_for_renders_what_build_renders(style, demo_mode, tmp_path):
    """The cached rendering of demonstrations gives the prompt the plain builder gives."""
    from adaptive_batch.config import PromptConfig
    from adaptive_batch.prompts import PromptBuilder
    from adaptive_batch.verifiers.extractors import EXPRESSION
    from retrieval import Demonstration

    template = tmp_path / "t.txt"
    template.write_text("Solve.\n{examples}Q: {question}\nA:")
    demos = (Demonstration("a", " Ann has 3 cats and 4 dogs. How many pets? ", "3 + 4 = 7\nmore", 0.4),
             Demonstration("b", "Bo has {question} 9 pens, loses 2.", "Dan - $ 9 - $ 2", 0.8))
    for template_path in (None, str(template)):
        if template_path and style == "chat":
            continue
        builder = PromptBuilder(PromptConfig(style=style, demo_mode=demo_mode, template=template_path),
                                canonical=EXPRESSION.canonical)
        for shown in ((), demos, demos[:1], demos):  # twice: the second time from the cache
            question = "  How many apples are left?  "
            assert builder.prompt_for(question, shown) == builder.build(question, builder.demonstration_examples(shown))


def test_a_run_restores_the_garbage_collector_as_it_found_it(synthetic, tmp_path):
    import gc

    path = synthetic(30)
    assert gc.isenabled()
    run(config(path, tmp_path, name="on"))
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        run(config(path, tmp_path, name="off"))
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_warmup_together_draws_the_same_warmup_samples_in_one_round(synthetic, tmp_path):
    path = synthetic(40)
    apart = samples(run(config(path, tmp_path, "elimination", budget=4, warmup=3, name="apart")))
    together = samples(run(config(path, tmp_path, "elimination", budget=4, warmup=3, warmup_together=True,
                                  name="together")))
    warm = [r for r in together if r["phase"] == "warmup"]
    assert {r["round"] for r in warm} == {0}
    assert set(Counter(r["query_id"] for r in warm).values()) == {3} and len(warm) == 3 * 40
    assert min(r["round"] for r in together if r["phase"] == "adaptive") == 1
    # Same prompts and seeds: every warm-up sample the one-per-round run drew is drawn here too;
    # a query resolved by an early warm-up sample also spends its later ones.
    key = lambda r: (r["query_id"], r["sample_index"], r["seed"], r["text"])  # noqa: E731
    drawn_apart = {key(r) for r in apart if r["phase"] == "warmup"}
    assert drawn_apart < {key(r) for r in warm}
    assert len(together) <= 4 * 40
    with pytest.raises(ConfigError, match="warmup_together has no meaning with continuous"):
        config(path, tmp_path, warmup_together=True, continuous=True)


def test_a_logged_samples_prompt_is_rebuilt_exactly_as_the_engine_received_it(synthetic, tmp_path):
    """The log stores no prompts: ``inspect --prompt`` rebuilds them. Checked against every prompt
    a recording backend (registered like any plugin) received, demonstrations included."""
    from adaptive_batch.backends import BackendBase
    from adaptive_batch.backends.simulated import SimulatedBackend
    from adaptive_batch.prompt_replay import rebuild_prompt

    class Recording(BackendBase):
        def __init__(self):
            self._inner = SimulatedBackend()
            self.model_id = self._inner.model_id
            self.prompts = {}

        def generate(self, requests):
            for request in requests:
                self.prompts[request.seed] = request.prompt
            return self._inner.generate(requests)

    backend = Recording()
    result = run(config(synthetic(40), tmp_path, budget=4), backend=backend)
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    with_demos = [s for s in samples if s["demo_ids"]]
    assert with_demos and len(backend.prompts) == len(samples)
    for s in samples:
        assert rebuild_prompt(result.run_dir, s["query_id"], s["sample_index"]) == backend.prompts[s["seed"]], s
