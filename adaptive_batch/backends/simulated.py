"""A simulated backend: a documented stand-in for an LLM, for scheduling tests and scale runs.

It is not a model. Each question carries a latent success probability and a topic as tags,
``[p=0.15 topic=7]``, and asks ``What is <arithmetic expression>?``. A sample is the right
expression with probability p, else an off-by-one one. Each demonstration in the prompt whose
question shares the topic raises p: ``p' = 1 - (1 - p) * (1 - boost)`` per matching
demonstration, which models "similar solved neighbours help". Sampling is a pure function of
(prompt, seed), so runs are reproducible.

With ``latency_s`` > 0 it also simulates an engine's timing, for scheduling measurements: each
request occupies one of ``slots`` slots for a log-normal time (mean ``latency_s``, spread
``latency_sigma``, drawn from the prompt and seed) spent sleeping, so it costs no CPU. A round of
requests is served by the slots in order, as a continuous-batching server would, and
``stats()`` reports how busy the slots were (``backends/activity.py``).

Tokens are words. A one-slot engine's prefix cache is modelled as llama.cpp's: a prompt reuses the
words it shares, from the start, with the prompt served before it (``cached_tokens``); the model
declares ``parameters`` (default a million) for FLOPs. ``useless_demos`` makes demonstrations
worth nothing (they do not raise p; they still lengthen the prompt), for tests of a run that
must learn to stop showing them.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Sequence

from ..config_fields import PluginOptions, doc, require
from ..records import Completion, GenerationRequest
from ..registry import Plugin
from .activity import EngineActivity
from .base import BackendBase

_TAGS = re.compile(r"\[p=([0-9.]+) topic=(\d+)\]")
_ASK = re.compile(r"What is ([0-9+\-*/(). ]+)\?")


def _uniform(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class SimulatedOptions(PluginOptions):
    boost: float = doc(0.25, "How much each same-topic demonstration raises p: p' = 1 - (1 - p)(1 - boost).")
    skill: float = doc(0.0, "A stronger model (an escalation target): p' = 1 - (1 - p)(1 - skill).")
    latency_s: float = doc(0.0, "Mean seconds a request occupies a slot (0: no timing, one slot).")
    latency_sigma: float = doc(0.8, "Spread of the log-normal latency.")
    slots: int = doc(8, "Requests served at once when latency_s > 0.")
    parameters: int = doc(1_000_000, "The parameter count it declares, for FLOPs.")
    useless_demos: bool = doc(False, "Demonstrations do not raise p (they still lengthen the prompt).")

    def __post_init__(self) -> None:
        require(0 <= self.boost <= 1 and 0 <= self.skill <= 1, "boost and skill must be in [0, 1]")
        require(self.latency_s >= 0, f"latency_s must be >= 0, got {self.latency_s}")
        require(self.slots >= 1, f"slots must be >= 1, got {self.slots}")


def from_config(config, options: SimulatedOptions) -> "SimulatedBackend":
    return SimulatedBackend(**asdict(options))


class SimulatedBackend(BackendBase):
    def __init__(self, boost: float = 0.25, skill: float = 0.0, latency_s: float = 0.0, latency_sigma: float = 0.8,
                 slots: int = 8, parameters: int = 1_000_000, useless_demos: bool = False):
        # skill models a stronger model (an escalation target): p' = 1 - (1 - p) * (1 - skill).
        self.boost, self.skill = boost, skill
        self.latency_s, self.latency_sigma = latency_s, latency_sigma
        self.model_id = f"simulated:boost={boost}" + (f",skill={skill}" if skill else "") + (
            ",useless-demos" if useless_demos else "")
        self.parameters, self.useless_demos = parameters, useless_demos
        self._previous: list[str] = []  # the words of the prompt served last (the prefix cache)
        self.concurrent_requests = slots if latency_s > 0 else 1
        self.activity = EngineActivity(slots)
        self._slots = threading.Semaphore(slots)
        self._workers = ThreadPoolExecutor(slots) if latency_s > 0 else None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if self._workers is None:
            return [[self._one(r, i) for i in range(r.n)] for r in requests]
        return list(self._workers.map(self._timed, requests))

    def stream(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
        """As each request finishes (in order without simulated latency)."""
        if self._workers is None:
            for index, request in enumerate(requests):
                yield index, [self._one(request, i) for i in range(request.n)]
            return
        futures = {self._workers.submit(self._timed, r): i for i, r in enumerate(requests)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def stats(self) -> dict[str, Any]:
        return {"engine": self.activity.stats()} if self.latency_s > 0 else {}

    def prompt_tokens(self, prompt) -> int:
        return len(_text(prompt).split())

    def parameter_count(self) -> int:
        return self.parameters

    def _cached(self, words: list[str]) -> int:
        if self.latency_s > 0:
            return 0  # many slots, no shared cache modelled
        common = 0
        for a, b in zip(self._previous, words):
            if a != b:
                break
            common += 1
        self._previous = words
        return min(common, len(words) - 1)

    def _timed(self, request: GenerationRequest) -> list[Completion]:
        with self._slots, self.activity.request():
            out = [self._one(request, i) for i in range(request.n)]
            # Box-Muller from two hash uniforms: a log-normal service time with mean latency_s.
            u1, u2 = max(_uniform("t1", request.prompt, request.seed), 1e-12), _uniform("t2", request.prompt, request.seed)
            z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
            sigma = self.latency_sigma
            time.sleep(request.n * self.latency_s * math.exp(sigma * z - sigma * sigma / 2))
            return out

    def _one(self, request: GenerationRequest, index: int) -> Completion:
        started_at = round(time.time(), 3)
        prompt = _text(request.prompt)
        words = prompt.split()
        cached = self._cached(words)
        tags = _TAGS.findall(prompt)
        asks = _ASK.findall(prompt)
        if not tags or not asks:
            return Completion("I don't know.", len(words), 3, "stop", cached_tokens=cached, started_at=started_at)
        p_text, topic = tags[-1]
        p = float(p_text)
        neighbours = 0 if self.useless_demos else sum(1 for _, t in tags[:-1] if t == topic)
        p = 1 - (1 - p) * (1 - self.boost) ** neighbours * (1 - self.skill)
        expression = asks[-1].strip()
        right = _uniform(prompt, request.seed, index) < p
        text = f" {expression}" if right else f" {expression} + 1"
        return Completion(text, len(words), len(text.split()), "stop", cached_tokens=cached, started_at=started_at)


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


def synthetic_queries(n: int, seed: int = 0, topics: int = 20) -> list[dict]:
    """Records for the simulator: tagged questions with a skewed spread of difficulty.

    Questions of one topic share their wording, so an embedder finds them near each other.
    """
    import random

    rng = random.Random(seed)
    nouns = ["apples", "books", "coins", "stamps", "marbles", "cards", "shells", "pens", "cups", "boats"]
    records = []
    for i in range(n):
        topic = rng.randrange(topics)
        p = round(rng.random() ** 3 * 0.6, 3)
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op = "+-*"[topic % 3]
        noun = nouns[topic % len(nouns)]
        question = f"[p={p} topic={topic}] A shop of {noun} in town {topic}. What is {a} {op} {b}?"
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        records.append({"id": f"syn-{i}", "question": question, "answer": str(answer)})
    return records


PLUGIN = Plugin(from_config, SimulatedOptions, "a documented stand-in for a model, for scheduling tests and scale runs")
