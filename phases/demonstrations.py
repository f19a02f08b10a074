"""Which resolved queries a sample is shown: the method's kind of demonstrations, chosen from the pool,
or, with the online choice, the kind of prompt that has solved the most per unit of cost so far."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from retrieval.pool import Demonstration, DemonstrationPool

from .policies import Demonstrations

# The kinds of prompt the online choice picks among, and the demonstrations each shows.
KINDS = ("base", "nearest", "rotated", "random")
# How many more neighbours to look at when some are set aside (retired or too long).
_SPARE = 8
# The online choice's prior: every kind starts level with the others, worth this many passes. Pass
# rates of unresolved queries are a few percent, so a few samples decide nothing; a weaker prior
# would let a kind's first lucky pass or two decide the run.
PRIOR_PASSES = 2.0


@dataclass(frozen=True)
class DemonstrationChoice:
    """Chooses a sample's demonstrations from the pool as it is when the sample is planned.

    ``rotate_among`` > k: a query's first sample with demonstrations shows its k nearest; each
    later one shows k drawn at random (from the sample's own seed) among its ``rotate_among``
    nearest usable ones. The same k nearest shown again after they failed rarely help; other
    near neighbours give the next attempt something new to copy from.

    ``online``: each sample's kind of prompt (``KINDS``) is drawn by Thompson sampling. What a kind
    is judged on is its pass rate relative to the other kinds drawn in the same rounds (the state's
    ``kind_passes_against_expected``, replayed from the log, so a resumed run knows what the first
    one knew): the open queries get harder as the run goes, and a plain pass rate would hold that
    against whichever kind was drawn late. Its posterior is Gamma(prior + passes, prior + expected
    passes), the prior worth ``PRIOR_PASSES`` passes at the others' rate; the sample's seed draws a
    relative rate from each, and the kind with the highest per unit of this sample's predicted cost
    (``pricer``, which prices a kind by its own cache share; 1 per sample without one) is shown.
    Where demonstrations do not help, the base prompt wins and the run spends like elimination.

    ``retire_after`` > 0: a demonstration shown that many times without one of those samples
    passing (the state's ``demo_use``) is not shown again. ``max_chars`` > 0: demonstrations whose
    question and response are longer than that are not shown.

    ``order`` "resolved": the chosen demonstrations are shown oldest resolved first instead of least
    similar first (the nearest next to the question), so that prompts share longer prefixes for the
    engine's cache (``DemonstrationPool.in_resolved_order``); a kept block keeps its own order.

    ``grouped``: every query of a group of the pool's (``DemonstrationPool.group``) is shown the same
    block, the k resolved queries nearest the group's centre, in one order: their prompts share it
    as a prefix, which the engine computes once a round for all of them, so samples cost less. The
    price is demonstrations chosen for the group, not for the query: measured, they pass less often
    (benchmarks/README.md, ``--demo-groups``).

    ``base_every`` N > 0: a query's Nth, 2Nth, ... adaptive samples show the base prompt, so a query
    that its demonstrations keep misleading still draws elimination's prompt (cached, and cheaper).
    ``base_ramp``: the gap before each next base turn is one shorter, down to 2 (N = 5: its 5th, 9th,
    12th, 14th, 16th, ... adaptive samples), since the longer a query stays open with demonstrations,
    the likelier they are what misleads it.

    ``keep``: a query's demonstrations, once shown, stay in its prompt in their places; while it
    shows fewer than k, the nearest new ones are added after them. Its retries then repeat one
    prompt, which the engine serves from its prefix cache, at the price of not seeing nearer
    queries resolved later. The block is the query's shown ``demo_ids`` (the state's), so a
    resumed run rebuilds it from the log.
    """

    pool: Optional[DemonstrationPool]
    kind: Demonstrations
    k: int = 3
    min_similarity: float = 0.0
    rotate_among: int = 0
    warmup: int = 0
    warmup_targets: Optional[Sequence[int]] = None  # a learned allocator's warm-up, query by query
    online: bool = False
    rotate_online: int = 8  # the rotated kind's width when the online choice picks it
    retire_after: int = 0
    max_chars: int = 0
    keep: bool = False
    order: str = "similarity"
    grouped: bool = False
    base_every: int = 0
    base_ramp: bool = False
    state: Any = None  # phases.RunState: what the online choice and retirement learn from
    pricer: Any = None  # budget.SamplePricer

    def for_samples(self, positions: Sequence[int], indices: Sequence[int],
                    seeds: Sequence[int]) -> list[tuple[Demonstration, ...]]:
        """Demonstrations for sample ``indices[i]`` of query ``positions[i]`` (seed ``seeds[i]``)."""
        return [demos for demos, _ in self.choose(positions, indices, seeds)]

    def choose(self, positions: Sequence[int], indices: Sequence[int], seeds: Sequence[int],
               engines: Optional[Sequence[str]] = None) -> list[tuple[tuple[Demonstration, ...], str]]:
        """(demonstrations, kind of prompt) for each sample."""
        if self.pool is None or (self.kind == "none" and not self.online):
            return [((), "base")] * len(positions)
        chosen = self._choose(positions, indices, seeds, engines)
        if self.order == "resolved" and not self.keep:
            chosen = [(self.pool.in_resolved_order(demos), kind) for demos, kind in chosen]
        if self.base_every:
            chosen = [((), "base") if self._base_turn(p, index) else c
                      for c, p, index in zip(chosen, positions, indices)]
        return chosen

    def _base_turn(self, position: int, index: int) -> bool:
        """With ``base_every`` N: whether the query's sample ``index`` is one of its base-prompt turns."""
        return is_base_turn(index - self._first_index(position), self.base_every, self.base_ramp)

    def _choose(self, positions: Sequence[int], indices: Sequence[int], seeds: Sequence[int],
                engines: Optional[Sequence[str]]) -> list[tuple[tuple[Demonstration, ...], str]]:
        if self.online:
            return self._online(positions, indices, seeds, engines or ["main"] * len(positions))
        if self.kind == "random":
            return [self._labelled(self._random(p, s), "random") for p, s in zip(positions, seeds)]
        rotating = self.rotate_among > self.k
        # A kept block may already hold some of the k nearest: look at twice as many for new ones.
        found = self._nearest(positions, self.rotate_among if rotating else self.k * (2 if self.keep else 1))
        if self.keep:
            return [self._labelled(self._kept(p, near), "nearest") for p, near in zip(positions, found)]
        if not rotating:
            kind = "grouped" if self.grouped else "nearest"
            return [self._labelled(tuple(near[-self.k:]), kind) for near in found]
        return [self._rotated(near, index > self._first_index(p), seed)
                for p, index, seed, near in zip(positions, indices, seeds, found)]

    @staticmethod
    def _labelled(demos: tuple[Demonstration, ...], kind: str) -> tuple[tuple[Demonstration, ...], str]:
        return (demos, kind) if demos else ((), "base")

    def _first_index(self, position: int) -> int:
        """Index of the query's first sample after warm-up: the first that may show demonstrations."""
        return self.warmup_targets[position] if self.warmup_targets is not None else self.warmup

    def _nearest(self, positions: Sequence[int], width: int) -> list[list[Demonstration]]:
        """Each query's ``width`` nearest usable demonstrations (its group's, when grouped), least
        similar first."""
        search = self.pool.nearest_of_groups if self.grouped else self.pool.nearest_many
        if not self.retire_after and not self.max_chars:
            return search(positions, width, self.min_similarity)
        found = search(positions, width + _SPARE, self.min_similarity)
        return [[d for d in near if self._usable(d)][-width:] for near in found]

    def _kept(self, position: int, near: list[Demonstration]) -> tuple[Demonstration, ...]:
        """The query's block so far (still usable), then as many of its nearest new ones as it lacks."""
        block = [d for d in self.pool.shown_again(position, self.state.status[position].demo_ids)
                 if self._usable(d)][: self.k]
        if len(block) == self.k:
            return tuple(block)
        shown = {d.query_id for d in block}
        new = [d for d in near if d.query_id not in shown]  # least similar first
        return tuple(block + new[-(self.k - len(block)):])

    def _usable(self, demo: Demonstration) -> bool:
        if self.max_chars and len(demo.question) + len(demo.response) > self.max_chars:
            return False
        if self.retire_after and self.state is not None:
            shown, passed = self.state.demo_use.get(demo.query_id, (0, 0))
            return not (shown >= self.retire_after and passed == 0)
        return True

    def _random(self, position: int, seed: int) -> tuple[Demonstration, ...]:
        if not self.retire_after and not self.max_chars:
            return tuple(self.pool.random(position, self.k, np.random.default_rng(seed)))
        drawn = self.pool.random(position, self.k + _SPARE, np.random.default_rng(seed))
        return tuple([d for d in drawn if self._usable(d)][: self.k])

    def _rotated(self, near: list[Demonstration], draw: bool, seed: int) -> tuple[tuple[Demonstration, ...], str]:
        # ``near`` is least similar first, so its last k are the k nearest.
        if not draw or len(near) <= self.k:
            return self._labelled(tuple(near[-self.k:]), "nearest")
        picked = np.sort(np.random.default_rng(seed).choice(len(near), size=self.k, replace=False))
        return self._labelled(tuple(near[i] for i in picked.tolist()), "rotated")

    def _online(self, positions: Sequence[int], indices: Sequence[int], seeds: Sequence[int],
                engines: Sequence[str]) -> list[tuple[tuple[Demonstration, ...], str]]:
        width = max(self.rotate_online, self.k + 1)
        found = self._nearest(positions, width)
        stats = self.state.kind_passes_against_expected() if self.state is not None else {}
        out = []
        for p, seed, engine, near in zip(positions, seeds, engines, found):
            rng = np.random.default_rng([seed, 0x0B5E])
            options = {"base": ()}
            if near:
                options["nearest"] = tuple(near[-self.k:])
                if len(near) > self.k:
                    picked = np.sort(rng.choice(len(near), size=self.k, replace=False))
                    options["rotated"] = tuple(near[i] for i in picked.tolist())
            drawn = self._random(p, seed)
            if drawn:
                options["random"] = drawn
            # One draw per kind, always in the same order, whichever kinds are available.
            rates = {kind: rng.gamma(PRIOR_PASSES + stats.get(kind, (0, 0.0))[0],
                                     1 / (PRIOR_PASSES + stats.get(kind, (0, 0.0))[1])) for kind in KINDS}
            def value(kind: str) -> float:
                cost = self.pricer.price(p, options[kind], engine, kind).predicted if self.pricer is not None else 1.0
                return rates[kind] / max(cost, 1e-30)
            best = max(options, key=value)
            out.append((options[best], best))
        return out


def is_base_turn(adaptive_index: int, every: int, ramp: bool) -> bool:
    """Whether a query's adaptive sample ``adaptive_index`` (0: its first after warm-up) shows the base
    prompt: every ``every``-th, or with ``ramp`` after gaps of every, every - 1, ..., 2, 2, ..."""
    if not ramp:
        return adaptive_index % every == every - 1
    turn, gap = every - 1, every
    while turn < adaptive_index:
        gap = max(2, gap - 1)
        turn += gap
    return turn == adaptive_index
