"""llama.cpp with many sequences decoded in one batch (``--backend llamacpp-batched``).

The ``llamacpp`` backend runs one sample at a time: on a CPU every decoding step reads all the
model's weights to produce one token. Here up to ``parallel`` samples advance together, one token
each per ``llama_decode`` call, so the weights are read once per step for all of them; the
prompts' longest common prefix (the instruction and the generic examples) is evaluated once, its
KV cache entries shared by every sequence in the wave (a token of a batch may belong to several
sequences), and the samples of one prompt share the whole prompt. Written against
llama-cpp-python's low-level bindings.

Determinism: a sample is a function of its prompt, its seed and the other prompts of its wave
(llama.cpp's arithmetic for a token can depend on how its batch was formed). Identical runs and
resumed runs give identical results (a round is re-sent whole); a response-cache hit that removes
a sample from a wave can change its wave-mates. Use ``llamacpp`` when bit-for-bit independence of
each sample matters more than throughput.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

from ..config_fields import doc, require
from ..errors import UserError
from ..records import Completion, GenerationRequest
from ..registry import Plugin
from .base import BackendBase
from .llamacpp import LlamaCppEngineOptions, derived_seed, prepare, sampled_token_logprob


@dataclass
class _Job:
    slot: int  # index into the flat output list
    tokens: list[int]
    seed: int
    params: Any
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finish: Optional[str] = None
    sampler: Any = None
    logits_index: int = -1
    cached: int = 0  # prompt tokens this sample did not evaluate itself (shared in its wave)
    logprob: float = 0.0  # the sampled tokens' summed log-probabilities so far
    engine_s: float = 0.0  # its share of the wave's seconds
    started_at: float = 0.0  # when its wave started (Unix time)


@dataclass(frozen=True)
class LlamaCppBatchedOptions(LlamaCppEngineOptions):
    parallel: int = doc(8, "Sequences decoded together, one token each per llama_decode call.")
    n_batch: int = doc(512, "Most tokens in one llama_decode call.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.parallel >= 1, f"parallel must be >= 1, got {self.parallel}")
        require(self.n_batch >= 1, f"n_batch must be >= 1, got {self.n_batch}")


def from_config(config, options: LlamaCppBatchedOptions) -> "LlamaCppBatchedBackend":
    return LlamaCppBatchedBackend(config.model, options.n_ctx, options.n_threads, options.parallel, options.n_batch)


class LlamaCppBatchedBackend(BackendBase):
    reports_logprobs = True

    def __init__(self, model: Optional[str] = None, n_ctx: int = 2048, n_threads: Optional[int] = None,
                 parallel: int = 8, n_batch: int = 512):
        llama_cpp, path = prepare(model, "llamacpp-batched")
        from llama_cpp import _internals

        self._c = llama_cpp
        threads = n_threads or os.cpu_count() or 1
        self._model = _internals.LlamaModel(path_model=path, params=llama_cpp.llama_model_default_params(),
                                            verbose=False)
        params = llama_cpp.llama_context_default_params()
        # Every sequence of a wave may need a full context of its own.
        params.n_ctx = n_ctx * parallel
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = threads
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._vocab = self._model.vocab
        self._n_vocab = self._model.n_vocab()
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, parallel)
        if not 1 <= parallel <= n_batch:
            raise UserError(f"parallel must be between 1 and n_batch ({n_batch}), got {parallel}")
        self.parallel, self.n_batch, self.n_ctx = parallel, n_batch, n_ctx
        self.model_id = f"llamacpp:{os.path.basename(path)}"
        # Chat prompts are formatted as llama-cpp-python's Llama formats them: the GGUF's own
        # template, else its fallback, the llama-2 format.
        from llama_cpp import llama_chat_format

        template = self._model.metadata().get("tokenizer.chat_template")
        self._bos_text = self._model.token_get_text(self._model.token_bos())
        if template:
            self._chat = llama_chat_format.Jinja2ChatFormatter(
                template, eos_token=self._model.token_get_text(self._model.token_eos()), bos_token=self._bos_text)
        else:
            self._chat = llama_chat_format.format_llama2

    def _tokens(self, prompt) -> list[int]:
        if isinstance(prompt, str):
            return self._model.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        text = self._chat(messages=list(prompt)).prompt
        return self._model.tokenize(text.encode("utf-8"), add_bos=not text.startswith(self._bos_text), special=True)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def prompt_tokens(self, prompt) -> int:
        return len(self._tokens(prompt))

    def parameter_count(self) -> int:
        return int(self._model.n_params())

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return [out for _, out in sorted(self.stream(requests), key=lambda item: item[0])]

    def stream(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
        """Wave by wave: a request is handed over once all its samples are done. The waves are the
        same whether the caller reads as it goes or waits for the end."""
        jobs: list[_Job] = []
        outputs: list[list[Optional[Completion]]] = [[None] * r.n for r in requests]
        where: list[tuple[int, int]] = []
        for r_index, request in enumerate(requests):
            tokens = self._tokens(request.prompt)
            for i in range(request.n):
                seed = derived_seed(request.seed, i) if i else request.seed
                if len(tokens) + 1 > self.n_ctx:
                    outputs[r_index][i] = Completion("", len(tokens), 0, "error", error=(
                        f"prompt too long: {len(tokens)} tokens for a context of {self.n_ctx}"))
                    continue
                jobs.append(_Job(len(where), tokens, seed, request.params))
                where.append((r_index, i))
        waiting = [sum(c is None for c in out) for out in outputs]
        for r_index, left in enumerate(waiting):
            if not left:  # every sample refused (prompt too long): nothing to wait for
                yield r_index, outputs[r_index]  # type: ignore[misc]
        for start in range(0, len(jobs), self.parallel):
            for job in self._run_wave(jobs[start : start + self.parallel]):
                r_index, i = where[job.slot]
                outputs[r_index][i] = Completion(job.text, len(job.tokens), len(job.generated), job.finish or "length",
                                                 cached_tokens=job.cached, engine_s=round(job.engine_s, 6),
                                                 started_at=job.started_at, logprob=round(job.logprob, 4))
                waiting[r_index] -= 1
                if not waiting[r_index]:
                    yield r_index, outputs[r_index]  # type: ignore[misc]

    def _run_wave(self, wave: list[_Job]) -> list[_Job]:
        started, started_at = time.perf_counter(), round(time.time(), 3)
        for job in wave:
            job.started_at = started_at
        try:
            return self._decode_wave(wave)
        finally:
            for job in wave:
                job.engine_s = (time.perf_counter() - started) / len(wave)

    def _decode_wave(self, wave: list[_Job]) -> list[_Job]:
        c = self._c
        c.llama_memory_clear(c.llama_get_memory(self._ctx.ctx), True)
        shared = _common_prefix([job.tokens for job in wave])
        shared = min(shared, min(len(job.tokens) for job in wave) - 1)  # each keeps a last token of its own
        entries: list[tuple[int, int, list[int], bool]] = []  # (token, pos, seq ids, wants logits)
        all_seqs = list(range(len(wave)))
        entries += [(token, pos, all_seqs, False) for pos, token in enumerate(wave[0].tokens[:shared])]
        # Samples of one prompt (n > 1, or the same prompt sent twice) share all of it, the last
        # token too: their first logits are the same row, each sampled with its own seed.
        groups: dict[tuple[int, ...], list[int]] = {}
        for seq, job in enumerate(wave):
            groups.setdefault(tuple(job.tokens), []).append(seq)
            job.sampler = self._sampler(job)
        for seqs in groups.values():
            tokens = wave[seqs[0]].tokens
            # The wave's first sample pays for the shared prefix, each group's first for the rest
            # of its prompt; every other sample reads those positions from the cache.
            for rank, seq in enumerate(seqs):
                wave[seq].cached = len(tokens) if rank else (shared if seq else 0)
            last = len(tokens) - 1
            entries += [(tokens[pos], pos, seqs, pos == last) for pos in range(shared, len(tokens))]
        self._decode_entries(entries, wave)
        try:
            while True:
                step = []
                for seq, job in enumerate(wave):
                    if job.finish is not None:
                        continue
                    token = c.llama_sampler_sample(job.sampler, self._ctx.ctx, job.logits_index)
                    c.llama_sampler_accept(job.sampler, token)
                    job.logprob += sampled_token_logprob(c, self._ctx.ctx, job.logits_index, self._n_vocab, token)
                    self._advance(job, token)
                    if job.finish is None:
                        step.append((token, len(job.tokens) + len(job.generated) - 1, [seq], True))
                if not step:
                    return wave
                self._decode_entries(step, wave)
        finally:
            for job in wave:
                c.llama_sampler_free(job.sampler)
                job.sampler = None

    def _advance(self, job: _Job, token: int) -> None:
        p = job.params
        if self._c.llama_vocab_is_eog(self._vocab, token):
            job.finish = "stop"
            return
        job.generated.append(token)
        job.text = self._model.detokenize(job.generated).decode("utf-8", errors="ignore")
        cuts = [job.text.find(s) for s in p.stop if s and s in job.text]
        if cuts:
            job.text = job.text[: min(cuts)]
            job.finish = "stop"
        elif len(job.generated) >= p.max_tokens:
            job.finish = "length"

    def _decode_entries(self, entries: list[tuple[int, int, list[int], bool]], wave: list[_Job]) -> None:
        """Decode ``entries`` in batches of n_batch; record where each sequence's logits landed.

        llama.cpp keeps only the last decode call's logits, so every entry that wants logits goes
        in one final call, after the others (positions within a sequence stay in order).
        """
        c, batch = self._c, self._batch
        plain = [e for e in entries if not e[3]]
        wanted = [e for e in entries if e[3]]
        chunks = [plain[i : i + self.n_batch] for i in range(0, len(plain), self.n_batch)] + [wanted]
        for chunk in chunks:
            if not chunk:
                continue
            batch.n_tokens = len(chunk)
            for i, (token, pos, seqs, logits) in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = len(seqs)
                for j, seq in enumerate(seqs):
                    batch.seq_id[i][j] = seq
                batch.logits[i] = logits
                if logits:
                    for seq in seqs:
                        wave[seq].logits_index = i
            status = c.llama_decode(self._ctx.ctx, batch)
            if status != 0:
                raise RuntimeError(f"llama_decode failed with status {status}")

    def _sampler(self, job: _Job):
        c, p = self._c, job.params
        chain = c.llama_sampler_chain_init(c.llama_sampler_chain_default_params())
        if p.temperature <= 0:
            c.llama_sampler_chain_add(chain, c.llama_sampler_init_greedy())
            return chain
        if p.top_k > 0:
            c.llama_sampler_chain_add(chain, c.llama_sampler_init_top_k(p.top_k))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_top_p(p.top_p, 1))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_temp(p.temperature))
        c.llama_sampler_chain_add(chain, c.llama_sampler_init_dist(job.seed & 0xFFFFFFFF))
        return chain

    def close(self) -> None:
        if self._batch is not None:
            self._c.llama_batch_free(self._batch)
            self._batch = None


def _common_prefix(sequences: list[list[int]]) -> int:
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for i in range(length):
        token = first[i]
        if any(s[i] != token for s in sequences[1:]):
            return i
    return length


PLUGIN = Plugin(from_config, LlamaCppBatchedOptions,
                "llama.cpp in this process, many sequences decoded in one batch (CPU throughput)")
