"""One contract, every backend: in-process llama.cpp (one sample at a time, and batched), the OpenAI
backend against llama.cpp's real
server, and the vLLM backend against a FAKE ``vllm`` module (tests/fakes/vllm; vLLM cannot run
on these CPU machines, so it is a marked stand-in with vLLM's signatures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_batch.backends import Completion, GenerationRequest, SamplingParams, create_backend

from .conftest import SAME_SAMPLING_AS_IN_PROCESS

pytestmark = pytest.mark.model
PARAMS = SamplingParams(temperature=0.8, top_p=0.95, top_k=40, max_tokens=20, stop=("\n",))
PROMPT = (
    "Answer each question with the arithmetic expression that computes the answer.\n\n"
    "Question: Tom had 12 apples. He gave 5 away. How many are left?\nAnswer: 12 - 5\n\n"
    "Question: A box holds 6 pens. How many pens are in 4 boxes?\nAnswer:"
)
FAKES = str(Path(__file__).parent / "fakes")


@pytest.fixture(scope="module", params=["llamacpp", "llamacpp-smollm2", "llamacpp-batched", "openai", "vllm-fake"])
def backend(request):
    if request.param == "llamacpp":
        yield request.getfixturevalue("real_backend")
    elif request.param == "llamacpp-smollm2":  # the second real model, a chat model
        yield create_backend(model="smollm2-135m-instruct")
    elif request.param == "llamacpp-batched":
        yield create_backend(name="llamacpp-batched", options=(("parallel", 4),))
    elif request.param == "openai":
        url = request.getfixturevalue("llama_server")
        yield create_backend(name="openai", options={"base_urls": [url], "concurrency": 2,
                                                     "extra_body": SAME_SAMPLING_AS_IN_PROCESS})
    else:
        with pytest.MonkeyPatch.context() as patch:
            patch.syspath_prepend(FAKES)
            import vllm

            assert vllm.__version__.endswith("+fake")
            yield create_backend(name="vllm", model="default.gguf", options={"engine_args": {"max_model_len": 2048}})


def test_shape_and_token_counts(backend):
    out = backend.generate([GenerationRequest(PROMPT, PARAMS, seed=1), GenerationRequest(PROMPT, PARAMS, seed=2, n=3)])
    assert [len(o) for o in out] == [1, 3]
    for completion in out[0] + out[1]:
        assert isinstance(completion, Completion) and isinstance(completion.text, str)
        assert completion.prompt_tokens > 20
        # 0 where the model's first token is a stop sequence (SmolLM2 does it for seed 1 on llama-cpp-python 0.3.36)
        assert 0 <= completion.completion_tokens <= PARAMS.max_tokens
        assert completion.finish_reason in ("stop", "length") and completion.error is None
        assert "\n" not in completion.text  # stop sequences are honoured
        assert 0 <= completion.cached_tokens <= completion.prompt_tokens and completion.engine_s >= 0
        # A log-probability exactly where the backend declares one (weighted votes rely on it).
        assert (completion.logprob is not None) == backend.reports_logprobs
        # The end-of-text token counts too: a sample that ends at once (0 tokens) still has one.
        assert completion.logprob is None or completion.logprob <= 0
        counted = backend.prompt_tokens(PROMPT)
        assert counted is None or counted == completion.prompt_tokens  # budgets price prompts by it
    assert any(c.completion_tokens > 0 and c.text for c in out[0] + out[1])
    assert backend.model_id
    # The request of seed 2 repeats the prompt of seed 1: an engine with a prefix cache (all here
    # but llama.cpp's server, which reports none) serves part of it from there.
    if not backend.model_id.startswith("openai:"):
        assert out[1][0].cached_tokens > 0
    assert backend.parameter_count() is None or backend.parameter_count() > 100_000_000


def test_same_seed_same_sample(backend):
    first, again = backend.generate([GenerationRequest(PROMPT, PARAMS, seed=7), GenerationRequest(PROMPT, PARAMS, seed=7)])
    assert first[0].text == again[0].text


def test_chat_messages(backend):
    messages = ({"role": "system", "content": "Answer with an arithmetic expression."},
                {"role": "user", "content": "A box holds 6 pens. How many pens are in 4 boxes?"})
    (out,) = backend.generate([GenerationRequest(messages, PARAMS, seed=3)])
    assert out[0].completion_tokens > 0 and out[0].error is None
    counted = backend.prompt_tokens(messages)
    assert counted is None or counted == out[0].prompt_tokens  # a chat prompt, priced by its template's tokens


def test_a_prompt_too_long_is_an_error_for_that_request_only(backend):
    long_prompt = "Question: " + "apple " * 3000 + "\nAnswer:"
    # Seed 2: SmolLM2's first token for seed 1 is the stop sequence (an empty answer, no error either).
    bad, good = backend.generate([GenerationRequest(long_prompt, PARAMS, seed=1), GenerationRequest(PROMPT, PARAMS, seed=2)])
    assert bad[0].error is not None and "too long" in bad[0].error.lower()
    assert good[0].error is None and good[0].completion_tokens > 0


def test_vllm_gets_one_call_per_round_with_one_seeded_request_per_sample(backend):
    if not backend.model_id.startswith("vllm:"):
        pytest.skip("checks how the vLLM backend drives vllm.LLM")
    import vllm

    vllm.LLM.calls.clear()
    backend.generate([GenerationRequest(PROMPT, PARAMS, seed=s, n=2) for s in range(3)])
    (call,) = vllm.LLM.calls
    assert call["n_prompts"] == 6 and call["use_tqdm"] is False
    assert all(p.n == 1 and p.max_tokens == PARAMS.max_tokens for p in call["params"])
    assert len({p.seed for p in call["params"]}) == 6
    assert backend._llm.engine_args["enable_prefix_caching"] is True


def test_batched_waves_larger_than_one_decode_call_keep_every_sequences_logits():
    # Four distinct prompts of ~60 tokens with n_batch 32: the prompt tokens span several
    # llama_decode calls, and each sequence's last token must still get its logits.
    backend = create_backend(name="llamacpp-batched", options=(("parallel", 4), ("n_batch", 32)))
    requests = [GenerationRequest(PROMPT.replace("6 pens", f"{n} pens"), PARAMS, seed=n) for n in (3, 5, 7, 9)]
    out = backend.generate(requests)
    assert all(o[0].error is None and o[0].completion_tokens > 0 for o in out)


def test_batched_samples_of_one_prompt_share_it_and_differ_only_by_seed():
    # The n samples of a prompt decode from one shared copy of it (one logits row for its last
    # token), so they must still be the samples of their own seeds: distinct, and reproducible.
    backend = create_backend(name="llamacpp-batched", options=(("parallel", 4),))
    request = GenerationRequest(PROMPT, PARAMS, seed=11, n=4)
    (first,) = backend.generate([request])
    (again,) = backend.generate([request])
    assert [c.text for c in first] == [c.text for c in again]
    assert len({c.text for c in first}) > 1
    assert all(c.prompt_tokens == first[0].prompt_tokens > 20 and c.error is None for c in first)


@pytest.mark.parametrize("name, options, flash_attn", [
    ("llamacpp", (), False),
    # Flash attention as in the batched context (llama.cpp turns it on there): the unfused path's
    # arithmetic moves this small model's log-probabilities by up to 0.15 a token.
    ("llamacpp-batched", (("parallel", 2),), True),
])
def test_a_llamacpp_logprob_is_the_models_own_probability_of_its_tokens(name, options, flash_attn):
    # Greedy to max_tokens with no stop: the same tokens as llama-cpp-python's own completion with
    # logits for every position, whose per-token log-probabilities must sum to the backend's figure.
    import llama_cpp

    from adaptive_batch.backends.llamacpp import resolve_model

    greedy = SamplingParams(temperature=0.0, top_p=1.0, top_k=0, max_tokens=8, stop=())
    backend = create_backend(name=name, options=options)
    (ours,) = backend.generate([GenerationRequest(PROMPT, greedy, seed=1)])
    reference = llama_cpp.Llama(model_path=resolve_model(None), n_ctx=256, logits_all=True, flash_attn=flash_attn,
                                verbose=False)
    theirs = reference.create_completion(PROMPT, max_tokens=8, temperature=0.0, logprobs=1)["choices"][0]
    assert ours[0].text == theirs["text"] and ours[0].completion_tokens == 8
    assert ours[0].logprob == pytest.approx(sum(theirs["logprobs"]["token_logprobs"]), abs=0.05)


def test_the_one_at_a_time_engine_counts_the_token_that_ends_a_sample():
    # A sample ended by a stop string or the end-of-text token: its last sampled token is never
    # evaluated, so only a figure read as each token is sampled includes it. The stop token's
    # log-probability is negative, so the sum over the sample must fall below the sum over the
    # same tokens but that one (a greedy run to one fewer token; the stop token is counted in
    # completion_tokens, here "\n\n").
    params = SamplingParams(temperature=0.0, top_p=1.0, top_k=0, max_tokens=64, stop=("\n",))
    backend = create_backend(name="llamacpp")
    (stopped,) = backend.generate([GenerationRequest(PROMPT, params, seed=1)])
    assert stopped[0].finish_reason == "stop" and stopped[0].completion_tokens >= 2
    shorter = SamplingParams(temperature=0.0, top_p=1.0, top_k=0, max_tokens=stopped[0].completion_tokens - 1,
                             stop=())
    (cut,) = backend.generate([GenerationRequest(PROMPT, shorter, seed=1)])
    assert cut[0].text == stopped[0].text
    assert stopped[0].logprob < cut[0].logprob < 0


def test_the_openai_backend_asks_for_log_probabilities_and_sums_the_servers(llama_server):
    # llama.cpp's real server, greedy to max_tokens with no stop: its token log-probabilities must
    # sum to what llama-cpp-python computes in process with the same (unfused) attention.
    import llama_cpp

    from adaptive_batch.backends.llamacpp import resolve_model

    greedy = SamplingParams(temperature=0.0, top_p=1.0, top_k=0, max_tokens=8, stop=())
    backend = create_backend(name="openai", options={"base_urls": [llama_server], "logprobs": True,
                                                     "extra_body": SAME_SAMPLING_AS_IN_PROCESS})
    assert backend.reports_logprobs
    (ours,) = backend.generate([GenerationRequest(PROMPT, greedy, seed=1)])
    reference = llama_cpp.Llama(model_path=resolve_model(None), n_ctx=256, logits_all=True, verbose=False)
    theirs = reference.create_completion(PROMPT, max_tokens=8, temperature=0.0, logprobs=1)["choices"][0]
    assert ours[0].text == theirs["text"]
    assert ours[0].logprob == pytest.approx(sum(theirs["logprobs"]["token_logprobs"]), abs=0.05)
