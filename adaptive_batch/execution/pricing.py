"""What a planned sample will cost, in the budget's unit, from its exact prompt (``phases.budget``)."""

from __future__ import annotations

from phases import RunState
from phases.budget import Price

from ..backends import Backend
from ..costs import CostModel
from ..prompts import PromptBuilder
from ..records import Query, SamplingParams


class PromptPricer:
    """Builds the sample's prompt and counts its tokens as the engine will (``prompt_tokens``);
    an engine that cannot count them beforehand gets a generous estimate (2 characters a token,
    8 tokens a chat message). Its predicted output is the mean output of that engine's samples so
    far (``max_tokens`` before the first), its predicted cache share that of the adaptive samples of its
    kind of prompt so far (before the first of them: the engine's share so far)."""

    def __init__(self, builders: dict[str, PromptBuilder], queries: list[Query], engines: dict[str, tuple[Backend, SamplingParams]],
                 cost: CostModel, state: RunState):
        self.builders, self.queries, self.engines, self.cost, self.state = builders, queries, engines, cost, state
        self._tokens: dict[tuple, int] = {}
        self.estimated = 0  # prompts whose tokens were estimated, not counted

    def prompt_tokens(self, position: int, demonstrations: tuple, engine: str) -> int:
        key = (position, tuple(d.query_id for d in demonstrations), engine)
        found = self._tokens.get(key)
        if found is None:
            if len(self._tokens) > 100_000:
                self._tokens.clear()
            prompt = self.builders[engine].prompt_for(self.queries[position].question, demonstrations)
            found = self.engines[engine][0].prompt_tokens(prompt)
            if found is None:
                self.estimated += 1
                found = len(prompt) // 2 + 1 if isinstance(prompt, str) else sum(
                    len(m["content"]) // 2 + 8 for m in prompt)
            self._tokens[key] = found
        return found

    def price(self, position: int, demonstrations: tuple, engine: str, kind: str = "") -> Price:
        tokens = self.prompt_tokens(position, demonstrations, engine)
        max_tokens = self.engines[engine][1].max_tokens
        seen = self.state.by_engine.get(engine)
        if seen and seen["samples"]:
            output = seen["completion_tokens"] / seen["samples"]
            share = self.state.kind_cached_share(kind) if kind else None
            cached = tokens * (share if share is not None else seen["cached_tokens"] / max(1, seen["prompt_tokens"]))
        else:
            output, cached = max_tokens, 0.0
        return Price(self.cost.of(tokens, round(cached), round(output), engine),
                     self.cost.worst(tokens, max_tokens, engine))
