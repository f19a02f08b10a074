"""vLLM's offline engine (``vllm.LLM``), for GPUs. Imported only when selected.

One ``generate`` call per round carries the whole batch, one request per sample with its own
seed (old vLLM versions gave all n samples of one request a single seed), so prefix caching,
on by default, makes the shared demonstrations and question nearly free. Engine arguments
(``tensor_parallel_size``, ``pipeline_parallel_size``, ``data_parallel_size``,
``gpu_memory_utilization``, ``max_model_len``, ``dtype``, ``quantization``, ...) pass through
from ``--vllm-engine-args``. Chat prompts are rendered with the model's own chat template.
"""

from __future__ import annotations

import time

from dataclasses import dataclass
from typing import Any, Sequence

from ..config_fields import JSONObject, PluginOptions, doc
from ..errors import MissingDependencyError, UserError
from ..records import Completion, GenerationRequest
from ..registry import Plugin
from .base import BackendBase
from .llamacpp import derived_seed


@dataclass(frozen=True)
class VLLMOptions(PluginOptions):
    engine_args: JSONObject = doc(
        (), "vllm.LLM arguments as a JSON object, e.g. '{\"tensor_parallel_size\": 2, \"max_model_len\": 4096}'.")


def from_config(config, options: VLLMOptions) -> "VLLMBackend":
    if not config.model:
        raise UserError("the vllm backend needs --model (a Hugging Face model directory or name)")
    return VLLMBackend(config.model, **dict(options.engine_args))


class VLLMBackend(BackendBase):
    def __init__(self, model: str, **engine_args: Any):
        try:
            import vllm
        except ImportError as exc:
            raise MissingDependencyError("vllm", "vllm", "The vllm backend") from exc
        self._vllm = vllm
        engine_args.setdefault("enable_prefix_caching", True)
        self._llm = vllm.LLM(model=model, **engine_args)
        self._tokenizer = None
        self.model_id = f"vllm:{model}"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        prompts: list[str] = []
        params = []
        owners: list[int] = []
        results: list[list[Completion]] = [[] for _ in requests]
        limit = self._llm.llm_engine.model_config.max_model_len
        for position, request in enumerate(requests):
            text = request.prompt if isinstance(request.prompt, str) else self._chat_text(request.prompt)
            length = len(self._tokenizer_().encode(text))
            if length + request.params.max_tokens > limit:
                # vLLM would fail the whole batch for it: answer this request alone with an error.
                error = f"prompt too long: {length} tokens + {request.params.max_tokens} to generate > {limit}"
                results[position] = [Completion("", length, 0, "error", error=error)] * request.n
                continue
            for i in range(request.n):
                p = request.params
                prompts.append(text)
                params.append(
                    self._vllm.SamplingParams(
                        n=1,
                        temperature=p.temperature,
                        top_p=p.top_p,
                        top_k=p.top_k if p.top_k > 0 else -1,
                        max_tokens=p.max_tokens,  # vLLM's default is 16
                        stop=list(p.stop),
                        seed=derived_seed(request.seed, i) if i else request.seed,
                    )
                )
                owners.append(position)
        started, started_at = time.perf_counter(), round(time.time(), 3)
        outputs = self._llm.generate(prompts, sampling_params=params, use_tqdm=False) if prompts else []
        share = (time.perf_counter() - started) / max(1, len(outputs))  # the batch's seconds, shared out
        for owner, output in zip(owners, outputs):
            sample = output.outputs[0]
            results[owner].append(
                Completion(
                    text=sample.text,
                    prompt_tokens=len(output.prompt_token_ids or []),
                    completion_tokens=len(sample.token_ids),
                    finish_reason=sample.finish_reason or "stop",
                    # vLLM counts, per request, the prompt tokens its prefix cache served.
                    cached_tokens=int(output.num_cached_tokens or 0),
                    engine_s=round(share, 6),
                    started_at=started_at,
                )
            )
        return results

    def prompt_tokens(self, prompt) -> int:
        text = prompt if isinstance(prompt, str) else self._chat_text(prompt)
        return len(self._tokenizer_().encode(text))

    def _tokenizer_(self):
        if self._tokenizer is None:
            self._tokenizer = self._llm.get_tokenizer()
        return self._tokenizer

    def _chat_text(self, messages) -> str:
        return self._tokenizer_().apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


PLUGIN = Plugin(from_config, VLLMOptions, "vLLM's offline engine on a GPU (pip install 'adaptive-batch[vllm]')")
