"""FAKE vLLM, for tests only. This is not vLLM.

vLLM cannot run on the CPU machines where the tests run, so this module stands in for the
``vllm`` package with the names and signatures that adaptive-batch uses (``LLM``,
``SamplingParams``, ``LLM.generate``, ``RequestOutput``/``CompletionOutput``, the tokenizer's
``apply_chat_template``, ``llm_engine.model_config.max_model_len``), and it checks its inputs as
vLLM does: unknown engine or sampling arguments are errors, ``max_tokens`` defaults to 16, and a
list of sampling params must match the prompts one to one. Text comes from the real default
GGUF model through llama.cpp, so what the contract tests check is real generation.
Every ``generate`` call is recorded in ``LLM.calls`` for the tests to inspect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

__version__ = "0.0.0+fake"

_ENGINE_ARGS = {
    "tokenizer", "tokenizer_mode", "trust_remote_code", "tensor_parallel_size", "pipeline_parallel_size",
    "data_parallel_size", "dtype", "quantization", "revision", "seed", "gpu_memory_utilization",
    "max_model_len", "enable_prefix_caching", "swap_space", "enforce_eager", "max_num_seqs",
    "max_num_batched_tokens", "kv_cache_dtype", "download_dir", "load_format",
}


@dataclass
class SamplingParams:
    n: int = 1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    seed: Optional[int] = None
    stop: Optional[Union[str, list[str]]] = None
    stop_token_ids: Optional[list[int]] = None
    max_tokens: Optional[int] = 16
    min_tokens: int = 0
    logprobs: Optional[int] = None
    skip_special_tokens: bool = True

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}.")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.top_k < -1 or self.top_k == 0:
            raise ValueError(f"top_k must be -1 (disable), or at least 1, got {self.top_k}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: Sequence[int]
    cumulative_logprob: Optional[float]
    logprobs: Any
    finish_reason: Optional[str] = None
    stop_reason: Union[int, str, None] = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: Optional[str]
    prompt_token_ids: Optional[list[int]]
    prompt_logprobs: Any
    outputs: list[CompletionOutput]
    finished: bool
    # Prompt tokens served from the prefix cache, as vLLM reports them per request: here whole
    # blocks of 16 tokens in common with a prompt served before.
    num_cached_tokens: Optional[int] = None


@dataclass
class _ModelConfig:
    max_model_len: int


@dataclass
class _Engine:
    model_config: _ModelConfig


class _Tokenizer:
    def __init__(self, llama):
        self._llama = llama

    def encode(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def apply_chat_template(self, messages, tokenize: bool = True, add_generation_prompt: bool = False, **_: Any):
        # Gemma's turn format, as its chat template renders it.
        text = ""  # encode() adds <bos>
        for m in messages:
            role = "model" if m["role"] == "assistant" else "user"
            content = m["content"] if m["role"] != "system" else m["content"] + "\n"
            text += f"<start_of_turn>{role}\n{content}<end_of_turn>\n"
        if add_generation_prompt:
            text += "<start_of_turn>model\n"
        return self.encode(text) if tokenize else text


class LLM:
    calls: list[dict[str, Any]] = []

    def __init__(self, model: str, **engine_args: Any):
        unknown = set(engine_args) - _ENGINE_ARGS
        if unknown:
            raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument '{sorted(unknown)[0]}'")
        from llama_cpp import Llama

        from adaptive_batch.backends.llamacpp import default_model_path

        import os

        path = model if os.path.isfile(model) else default_model_path()
        self.engine_args = engine_args
        max_len = engine_args.get("max_model_len") or 2048
        self._llama = Llama(model_path=path, n_ctx=max_len, verbose=False)
        self.llm_engine = _Engine(_ModelConfig(max_len))
        self._served: list[list[int]] = []

    def _cached(self, ids: list[int]) -> int:
        best = 0
        for seen in self._served:
            common = next((i for i, (a, b) in enumerate(zip(seen, ids)) if a != b), min(len(seen), len(ids)))
            best = max(best, min(common, len(ids) - 1) // 16 * 16)
        self._served.append(ids)
        return best

    def get_tokenizer(self) -> _Tokenizer:
        return _Tokenizer(self._llama)

    def generate(self, prompts, sampling_params=None, use_tqdm: bool = True, lora_request=None, **kwargs: Any):
        if isinstance(prompts, str):
            prompts = [prompts]
        if sampling_params is None:
            sampling_params = SamplingParams()
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("The lengths of prompts and sampling_params must be the same.")
        LLM.calls.append({"n_prompts": len(prompts), "use_tqdm": use_tqdm, "params": list(params)})
        outputs = []
        for i, (prompt, p) in enumerate(zip(prompts, params)):
            prompt_ids = self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            if len(prompt_ids) > self.llm_engine.model_config.max_model_len:
                raise ValueError(f"The decoder prompt (length {len(prompt_ids)}) is longer than the maximum model length")
            samples = []
            for j in range(p.n):
                out = self._llama.create_completion(
                    prompt=prompt, max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                    top_k=p.top_k if p.top_k > 0 else 0, min_p=p.min_p, repeat_penalty=p.repetition_penalty,
                    stop=[p.stop] if isinstance(p.stop, str) else list(p.stop or []),
                    seed=p.seed if p.seed is not None else 0,
                )
                choice = out["choices"][0]
                token_ids = self._llama.tokenize(choice["text"].encode("utf-8"), add_bos=False, special=True)
                samples.append(CompletionOutput(j, choice["text"], token_ids, None, None, choice["finish_reason"]))
            outputs.append(RequestOutput(str(i), prompt, prompt_ids, None, samples, True, self._cached(prompt_ids)))
        return outputs
