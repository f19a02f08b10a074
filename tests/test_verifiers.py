"""Label-free consistency, external verifiers, and the after-run commands (verify, score, export).

Runs use the simulated backend (a documented simulator, registered like any backend) and the
hashing embedder, so these are fast; the real model's label-free run is in test_real_components.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.config import DataConfig, VerifierConfig
from adaptive_batch.errors import VerifierError
from adaptive_batch.scoring import LeakageError, export_run, read_responses, score_run, verify_responses
from adaptive_batch.verifiers.consistency import (
    ConsistencyOptions,
    VOTE_LABELS,
    ConsistencyVerifier,
    beta_top_probability,
    from_config,
)

from .conftest import write_jsonl


def config(path, out, verifier=None, budget=6.0, method=None, **extra):
    return RunConfig.from_dict(
        {
            "data": {"path": str(path)},
            "backend": {"name": "simulated"},
            "retrieval": {"embedder": "hashing", "min_similarity": 0.0},
            "schedule": {"budget": budget, "warmup": 2, **({"method": method} if method else {})},
            "verifier": verifier or {"name": "reference"},
            "output_dir": str(out),
            **extra,
        }
    )


def test_beta_rule_matches_the_closed_form_and_grows_with_agreement():
    # P(X > 1/2) for X ~ Beta(a, 1) is 1 - 2^-a.
    for top in range(0, 8):
        assert beta_top_probability(top, 0) == pytest.approx(1 - 0.5 ** (top + 1))
    assert beta_top_probability(1, 1) == pytest.approx(0.5)
    assert beta_top_probability(6, 2) > beta_top_probability(5, 2) > beta_top_probability(5, 3)


def test_threshold_and_beta_rules():
    threshold = ConsistencyVerifier(min_votes=3, min_share=0.6)
    assert not threshold.resolved([2]) and threshold.resolved([3]) and threshold.resolved([3, 2])
    assert not threshold.resolved([3, 3]) and not threshold.resolved([])
    beta = ConsistencyVerifier(stopping="beta", confidence=0.95)
    assert not beta.resolved([3]) and beta.resolved([4])  # 0.9375 < 0.95 <= 0.96875
    assert not beta.resolved([5, 2]) and beta.max_samples == 40
    # The default (0.8, for budgets of 4 to 16): 2 of 2 votes, 3 of 4 or 5 of 7 decide; 1 of 1 and 4 of 6 do not.
    default = from_config(VerifierConfig(name="consistency"), ConsistencyOptions(stopping="beta"))
    assert default.resolved([2]) and default.resolved([3, 1]) and default.resolved([5, 2])
    assert not default.resolved([1]) and not default.resolved([4, 2]) and not default.resolved([1, 1])


def test_label_free_run_votes_needs_no_answers_and_picks_the_majority(synthetic, tmp_path):
    records = [json.loads(line) for line in synthetic(40).read_text().splitlines()]
    unlabeled = write_jsonl(tmp_path / "unlabeled.jsonl", [{"id": r["id"], "question": r["question"]} for r in records])
    result = run(config(unlabeled, tmp_path / "lf", {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.6}}))
    summary = result.summary
    assert summary["verification"]["reads_references"] is False
    assert "label-free" in summary["coverage_kind"]
    assert summary["samples"] <= 6 * 40
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    assert all(s["passed"] is None for s in samples)  # votes, not verdicts
    results = {r["id"]: r for r in result.results_table().to_pylist()}
    for query_id, row in results.items():
        answers = [s["answer"] for s in samples if s["query_id"] == query_id and s["answer"] is not None]
        if row["resolved"]:
            top = max(set(answers), key=answers.count)
            assert row["final_answer"] == top and answers.count(top) >= 2
    assert summary["resolved"] > 0
    # Scoring afterwards, against the references the run never saw.
    report = score_run(result.run_dir, DataConfig(path=str(synthetic(40))))
    expected = sum(row["final_answer"] == r["answer"] for r in records for row in [results[r["id"]]]) / 40
    assert report["accuracy"] == pytest.approx(expected)
    assert report["resolution_read_references"] is False


def test_label_free_last_partial_round_goes_to_the_least_settled_open_queries(synthetic, tmp_path):
    """With less budget left than a round, among the open queries sampled equally often, those whose
    top answer holds the smallest share of their votes get the samples (the order that replayed best
    in benchmarks/label_free_order.py), before the seeded rank."""
    result = run(config(synthetic(40), tmp_path / "lf", {"name": "consistency", "options": {"min_votes": 4}}, budget=3.5))
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    last = max(s["round"] for s in samples)
    before: dict[str, list] = {}
    for s in sorted(samples, key=lambda s: s["sample_index"]):
        if s["round"] < last:
            before.setdefault(s["query_id"], []).append(s["answer"])
    rule = ConsistencyVerifier(min_votes=4, min_share=0.5)

    def counts(answers):
        return sorted((answers.count(a) for a in set(answers) if a is not None), reverse=True)

    def share(answers):
        c = counts(answers)
        return c[0] / sum(c) if c else 0.0

    chosen = {s["query_id"] for s in samples if s["round"] == last}
    sampled = {len(before[q]) for q in chosen}
    peers = {q for q, a in before.items() if not rule.resolved(counts(a)) and len(a) in sampled}
    left_out = peers - chosen
    assert len(sampled) == 1 and chosen <= peers and left_out  # a partial round among equals
    assert max(share(before[q]) for q in chosen) <= min(share(before[q]) for q in left_out)
    assert min(share(before[q]) for q in chosen) < max(share(before[q]) for q in left_out)  # the order chose


def test_a_label_free_run_defaults_to_elimination_and_an_oracle_run_to_adaptive(synthetic, tmp_path):
    """Demonstrations chosen by agreement measured no better than none at equal samples and worse at equal
    tokens (benchmarks/README.md), so a label-free run that names no method shows none; named, they stay."""
    data, label_free = synthetic(40), {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.6}}
    default = run(config(data, tmp_path / "default", label_free, budget=8))
    assert default.summary["method"] == "elimination" and default.summary["config"]["schedule"]["method"] == "elimination"
    samples = pq.read_table(default.run_dir / "samples.parquet").to_pylist()
    assert not any(s["demo_ids"] for s in samples) and any(s["phase"] == "adaptive" for s in samples)
    assert config(data, tmp_path / "oracle").schedule.method == "adaptive"
    named = config(data, tmp_path / "named", label_free, method="adaptive")
    assert named.schedule.method == "adaptive" and named.output_dir == str(tmp_path / "named")
    assert Path(RunConfig(data=DataConfig(path=str(data)), verifier=VerifierConfig(name="consistency")).output_dir).name \
        == f"{data.stem}-elimination-s0"


def test_a_label_free_run_started_with_adaptive_says_how_to_resume_under_the_new_default(synthetic, tmp_path):
    from adaptive_batch.errors import ResumeMismatchError

    data, label_free = synthetic(10), {"name": "consistency", "options": {"min_votes": 2}}
    started = run(config(data, tmp_path / "lf", label_free, budget=4, method="adaptive"))
    with pytest.raises(ResumeMismatchError, match=r"schedule\.method was 'adaptive', now 'elimination'.*--method"):
        run(config(data, tmp_path / "lf", label_free, budget=4))
    resumed = run(config(data, tmp_path / "lf", label_free, budget=4, method="adaptive"))
    assert resumed.summary["samples"] == started.summary["samples"] and resumed.summary["method"] == "adaptive"


def test_label_free_demonstrations_are_responses_that_gave_the_majority_answer(synthetic, tmp_path):
    result = run(config(synthetic(40), tmp_path / "lf", {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.6}},
                        budget=8, method="adaptive"))
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    final = {r["id"]: r["final_answer"] for r in result.results_table().to_pylist() if r["resolved"]}
    by_text = {(s["query_id"], s["text"]): s["answer"] for s in samples}
    shown = [d for s in samples for d in s["demo_ids"]]
    assert shown, "the adaptive rounds should have carried demonstrations"
    for demo_id in set(shown):
        assert demo_id in final  # only resolved (consistent) queries are demonstrations
        assert final[demo_id] in {a for (q, _), a in by_text.items() if q == demo_id}


def test_export_refuses_an_oracle_verified_run_unless_allowed(synthetic, tmp_path):
    result = run(config(synthetic(20), tmp_path / "oracle"))
    with pytest.raises(LeakageError, match="reference answers"):
        export_run(result.run_dir)
    info = export_run(result.run_dir, tmp_path / "out", allow_reference=True)
    lines = [json.loads(line) for line in (tmp_path / "out" / "submission.jsonl").read_text().splitlines()]
    assert info["oracle_verified"] and len(lines) == 20 and all(line["oracle_verified"] for line in lines)
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert sum(len(p["samples"]) for p in predictions) == result.summary["samples"]


def test_export_of_a_label_free_run_is_a_plain_submission(synthetic, tmp_path):
    result = run(config(synthetic(20), tmp_path / "lf", {"name": "consistency", "options": {"min_votes": 2}}))
    info = export_run(result.run_dir)
    lines = [json.loads(line) for line in (result.run_dir / "export" / "submission.jsonl").read_text().splitlines()]
    assert not info["oracle_verified"] and set(lines[0]) == {"id", "answer", "confidence", "votes", "answered_samples"}
    assert [line["id"] for line in lines] == [r["id"] for r in result.results_table().to_pylist()]
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    for line in lines:  # the confidence is the answer's share of the query's answered samples
        answered = [s["answer"] for s in samples if s["query_id"] == line["id"] and s["answer"] is not None]
        assert line["answered_samples"] == len(answered) and line["votes"] == answered.count(line["answer"])
        assert line["confidence"] == pytest.approx(line["votes"] / max(1, len(answered)), abs=1e-4)
    strict = export_run(result.run_dir, tmp_path / "strict", abstain_below=0.75)
    kept = [json.loads(x) for x in (tmp_path / "strict" / "submission.jsonl").read_text().splitlines()]
    assert strict["abstained"] == sum(line["confidence"] < 0.75 for line in lines) > 0
    assert all((k["answer"] is None) == bool(k.get("abstained")) for k in kept)


CHECKER = """
import json, sys
item = json.load(sys.stdin)
mode = {mode!r}
if mode == "crash":
    raise SystemExit("checker exploded")
if mode == "hang":
    import time; time.sleep(60)
if mode == "garbage":
    print("not json"); raise SystemExit(0)
answer = item["answer"]
print(json.dumps({{"passed": answer is not None and float(answer) == float(item["reference"]), "score": 0.5}}))
"""


def checker(tmp_path: Path, mode: str = "ok") -> str:
    path = tmp_path / f"check_{mode}.py"
    path.write_text(CHECKER.format(mode=mode))
    return f"{sys.executable} {path}"


def test_external_verifier_agrees_with_the_built_in_one(synthetic, tmp_path):
    data = synthetic(12)
    verifier = {"name": "external", "options": {"command": checker(tmp_path), "send_reference": True}}
    external = run(config(data, tmp_path / "ext", verifier, budget=3))
    builtin = run(config(data, tmp_path / "ref", budget=3))
    assert external.summary["verification"]["reads_references"] is True
    same = ["id", "resolved", "final_answer", "samples"]
    assert [{k: r[k] for k in same} for r in external.results_table().to_pylist()] == [
        {k: r[k] for k in same} for r in builtin.results_table().to_pylist()
    ]
    scores = pq.read_table(external.run_dir / "samples.parquet").column("score").to_pylist()
    assert set(scores) == {0.5}


@pytest.mark.parametrize("mode, message", [("crash", "exited with code 1"), ("hang", "no answer within"),
                                           ("garbage", "expected a JSON object")])
def test_a_failing_external_verifier_stops_the_run_clearly_and_keeps_its_state(synthetic, tmp_path, mode, message):
    data = synthetic(6)
    verifier = {"name": "external", "timeout": 2,
                "options": {"command": checker(tmp_path, mode), "send_reference": True}}
    with pytest.raises(VerifierError, match=message):
        run(config(data, tmp_path / "run", verifier, budget=3))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and message.split()[0] in summary["stop_reason"]
    # Samples are verified as they are generated, so the run stopped at the first one the verifier
    # failed on; that sample was kept, so a fixed verifier resumes without generating it again.
    assert (tmp_path / "run" / "pending-round.json").exists()
    assert not (tmp_path / "run" / "samples.jsonl").exists()  # nothing before it was verified
    fixed = {**verifier, "options": {**verifier["options"], "command": checker(tmp_path, mode)}}
    (tmp_path / f"check_{mode}.py").write_text(CHECKER.format(mode="ok"))
    resumed = run(config(data, tmp_path / "run", fixed, budget=3))
    assert resumed.summary["status"] == "complete"
    assert resumed.summary["samples_generated"] == resumed.summary["samples"] - 1  # its first came from the file
    assert not (tmp_path / "run" / "pending-round.json").exists()


def test_verify_rescoring_a_runs_samples_gives_the_logged_verdicts(synthetic, tmp_path):
    data = synthetic(15)
    result = run(config(data, tmp_path / "run", budget=3))
    verdicts = verify_responses(read_responses(result.run_dir), DataConfig(path=str(data)), VerifierConfig())
    logged = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    assert sorted((v["id"], v["sample_index"], v["passed"]) for v in verdicts) == sorted(
        (s["query_id"], s["sample_index"], s["passed"]) for s in logged
    )


def test_calibrated_cap_formula():
    from phases import calibrated_cap

    assert calibrated_cap(0.5, 0.95, 2, 40) == 5  # 0.5^5 = 0.031 <= 0.05 < 0.5^4
    assert calibrated_cap(0.0, 0.95, 2, 40) == 40 and calibrated_cap(1.0, 0.95, 2, 40) == 2
    assert calibrated_cap(0.01, 0.95, 2, 40) == 40  # would need 299
    lower = ConsistencyVerifier().success_lower_bound
    assert lower([]) == 0 and 0 < lower([2]) < lower([4]) < 1 and lower([2, 2]) < lower([4])


def test_calibrated_stopping_spends_less_on_queries_that_agree(synthetic, tmp_path):
    data = synthetic(40)
    verifier = {"name": "consistency", "options": {"min_votes": 5, "min_share": 0.9}}
    fixed = run(config(data, tmp_path / "fixed", verifier, budget=8))
    calibrated = run(RunConfig.from_dict({
        **{k: v for k, v in fixed.summary["config"].items() if k != "output_dir"},
        "schedule": {**fixed.summary["config"]["schedule"], "stop_confidence": 0.9},
        "output_dir": str(tmp_path / "calibrated"),
    }))
    assert calibrated.summary["samples"] < fixed.summary["samples"]
    caps = pq.read_table(calibrated.run_dir / "results.parquet").column("samples").to_pylist()
    assert max(caps) <= fixed.summary["config"]["schedule"]["budget"] * 3


def test_calibrated_stopping_needs_a_probability_from_the_verifier(synthetic, tmp_path):
    from adaptive_batch.errors import ConfigError

    bad = RunConfig.from_dict({"data": {"path": str(synthetic(5))}, "backend": {"name": "simulated"},
                               "schedule": {"stop_confidence": 0.9}, "output_dir": str(tmp_path / "x")})
    with pytest.raises(ConfigError, match="stop-confidence"):
        run(bad)


def test_an_extractor_that_reads_no_answer_is_a_warning_once_and_with_strict_an_error(synthetic, tmp_path):
    from adaptive_batch.errors import ConfigError

    data = synthetic(12)
    mismatched = {"name": "reference", "extractor": "boxed"}  # the simulator writes expressions, never \boxed{}
    result = run(config(data, tmp_path / "warned", mismatched, budget=3))
    warnings = [w for w in result.summary["warnings"] if "extractor could read" in w]
    assert len(warnings) == 1 and "'boxed'" in warnings[0] and "12 of the first 12" in warnings[0]
    assert not [w for w in run(config(data, tmp_path / "fine", budget=3)).summary["warnings"]
                if "extractor could read" in w]
    with pytest.raises(ConfigError, match=r"boxed.*\(--strict\)"):
        run(config(data, tmp_path / "strict", mismatched, budget=3, strict=True))


def test_a_pool_floor_keeps_weakly_agreed_answers_out_and_score_reports_the_pools_pollution(synthetic, tmp_path):
    data = synthetic(60, seed=2)
    label_free = {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.5}}
    loose = run(config(data, tmp_path / "loose", label_free, method="adaptive"))
    strict = run(config(data, tmp_path / "strict", label_free, method="adaptive",
                        retrieval={"embedder": "hashing", "pool_min_share": 0.99}))
    assert 0 < strict.summary["pool_size"] < loose.summary["pool_size"] <= loose.summary["resolved"]
    report = score_run(loose.run_dir, DataConfig(path=str(data)))["pool"]
    samples = pq.read_table(loose.run_dir / "samples.parquet").to_pylist()
    assert report["demonstrations_shown"] == sum(len(s["demo_ids"]) for s in samples) > 0
    assert 0 <= report["shown_wrong_share"] <= 1
    assert report["samples_showing_a_wrong_one"] + report["samples_showing_only_right_ones"] == sum(
        bool(s["demo_ids"]) for s in samples)


def _vote(query_id: str, index: int, answer: str, logprob, tokens: int = 4):
    from adaptive_batch.records import SampleRecord

    return SampleRecord(query_id=query_id, sample_index=index, phase="warmup", round=0, seed=index, demo_ids=(),
                        text=f" {answer}", answer=answer, passed=None, prompt_tokens=10, completion_tokens=tokens,
                        finish_reason="stop", logprob=logprob)


@pytest.mark.parametrize("vote, chosen", [("majority", "7"), ("confidence", "9"), ("top-confidence", "9")])
def test_an_undecided_query_submits_the_answer_its_vote_rule_ranks_first(vote, chosen):
    from adaptive_batch.records import Query
    from phases.state import RunState

    verifier = ConsistencyVerifier(min_votes=3, vote=vote)
    state = RunState([Query("q", "?")], 10, vote_rule=verifier.resolved, vote_score=verifier.score_vote)
    # Two unsure votes for 7 (probability per token e^-2 each), one sure vote for 9 (e^-0.1).
    for i, (answer, logprob) in enumerate([("7", -8.0), ("9", -0.4), ("7", -8.0)]):
        assert state.apply(0, _vote("q", i, answer, logprob)) is False
    assert state.status[0].answer == chosen
    assert verifier.wants_logprobs is (vote != "majority") and VOTE_LABELS[vote] in verifier.label


@pytest.mark.parametrize("vote", ["confidence", "top-confidence"])
def test_without_log_probabilities_every_vote_rule_is_the_majority(vote):
    from adaptive_batch.records import Query
    from phases.state import RunState

    verifier = ConsistencyVerifier(min_votes=3, vote=vote)
    state = RunState([Query("q", "?")], 10, vote_rule=verifier.resolved, vote_score=verifier.score_vote)
    for i, answer in enumerate(["9", "7", "7"]):
        state.apply(0, _vote("q", i, answer, None))
    assert state.status[0].answer == "7"
    # Agreement still decides a resolved query, whatever the confidences: three votes for 7 win.
    state.apply(0, _vote("q", 3, "9", -0.01))
    state.apply(0, _vote("q", 4, "7", -30.0))
    assert state.status[0].resolved and state.status[0].answer == "7"


def test_the_vote_option_is_checked_at_the_edge():
    from adaptive_batch.errors import ConfigError
    from adaptive_batch.verifiers.consistency import ConsistencyOptions

    assert ConsistencyOptions().vote == "top-confidence"
    with pytest.raises(ConfigError, match="vote must be top-confidence, confidence or majority, got 'loudest'"):
        ConsistencyOptions(vote="loudest")


def test_a_label_free_run_on_an_engine_without_log_probabilities_says_its_votes_are_counted(synthetic, tmp_path):
    # The simulated engine, like vLLM and a server asked for none, reports no log-probabilities: the
    # run warns once, decides with the majority verifier, and its summary's label says so.
    result = run(config(synthetic(20), tmp_path / "counted", {"name": "consistency"}))
    warnings = [w for w in result.summary["warnings"] if "not weighted" in w]
    assert warnings == ["votes are counted, not weighted by confidence: the simulated backend reports no "
                        "log-probabilities (both llama.cpp backends do; --openai-logprobs asks a server for them)"]
    assert result.summary["verification"]["label"].endswith("undecided queries by most votes)")
    counted = {"name": "consistency", "options": {"vote": "majority"}}
    majority = run(config(synthetic(20), tmp_path / "majority", counted))
    assert not any("not weighted" in w for w in majority.summary.get("warnings", []))
    assert [r["final_answer"] for r in majority.results_table().to_pylist()] == \
        [r["final_answer"] for r in result.results_table().to_pylist()]
