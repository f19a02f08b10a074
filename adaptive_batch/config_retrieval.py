"""The retrieval section of a run's config: which demonstrations an adaptive prompt shows.

Its own file because it is the section the cost work keeps adding levers to; ``adaptive_batch.config``
re-exports it with the other sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from .config_fields import FromDict, doc, require

# Grouping assigns every query to its nearest group centre: queries x groups dot products.
MAX_DEMO_GROUPS = 4096
# Every fifth adaptive sample of a query on the base prompt: measured ahead of never (0) and of every
# third in three of four dataset x size cells (benchmarks/README.md, --base-every 5).
DEFAULT_BASE_EVERY = 5


@dataclass(frozen=True)
class RetrievalConfig(FromDict):
    k: int = doc(3, "Demonstrations per adaptive prompt.")
    embedder: str = doc(
        "sentence-transformers", "Embedder plugin: sentence-transformers, hashing, or a registered name."
    )
    embedder_model: Optional[str] = doc(
        None, "Sentence-transformers model name or path (default: all-MiniLM-L6-v2 from PyPI, offline)."
    )
    min_similarity: float = doc(
        0.35, "Retrieved demonstrations less similar than this (cosine) are not shown."
    )
    rotate_among: int = doc(
        0, "Rotate demonstrations: a query's first adaptive sample shows its k nearest, each later one k drawn "
        "at random (seeded) among its this many nearest, so a retry is not shown what already failed "
        "(0: always the k nearest; at most 32).",
    )

    prompt_choice: Literal["fixed", "online"] = doc(
        "fixed", "fixed: every adaptive sample shows the method's demonstrations; online: each sample's kind of "
        "prompt (base, nearest, rotated or random demonstrations) is drawn by Thompson sampling on each kind's pass "
        "rate per unit of predicted cost so far, so where demonstrations do not pay for their tokens the run "
        "spends like elimination (seeded, resumable).")
    retire_after: int = doc(
        4, "A demonstration shown this many times without one of those samples passing is not shown again "
        "(0: never retired).")
    pool_min_share: float = doc(
        0.0, "Label-free runs: a query resolved by agreement joins the demonstration pool only if its answer has at "
        "least this share of its votes (0: every resolved query), so fewer wrong answers are shown as examples.")
    max_demo_chars: int = doc(
        0, "Demonstrations whose question and response are longer than this many characters are not shown "
        "(0: no limit).")
    keep_demonstrations: bool = doc(
        False, "A query's demonstrations, once shown, stay in its later prompts (while it has fewer than k, the "
        "nearest new ones are added after them), so its retries repeat one prompt that the engine serves from its "
        "prefix cache; it no longer sees nearer queries resolved later.")

    demo_order: Literal["similarity", "resolved"] = doc(
        "resolved", "Order of a prompt's demonstrations: resolved (oldest resolved first, so a query's retries and "
        "its neighbours' prompts share longer prefixes for the engine's cache; a newly resolved neighbour joins at "
        "the end) or similarity (least similar first, the nearest next to the question).")
    demo_groups: int = doc(
        0, "Split the queries into this many groups by meaning (spherical k-means over their embeddings, seeded) "
        "and show every query of a group the same k demonstrations, the resolved queries nearest the group's "
        f"centre, so the engine serves that block from its prefix cache (0: each query its own k nearest; at "
        f"most {MAX_DEMO_GROUPS}).")

    base_every: Optional[int] = doc(
        None, "Every this many adaptive samples of a query, one is drawn with the base prompt, without "
        "demonstrations (0: never), so a query its demonstrations keep misleading still gets elimination's "
        f"prompt, which the engine serves from its cache (default: {DEFAULT_BASE_EVERY} for the adaptive method; 0 "
        "for the others and with prompt_choice online, which chooses the base prompt itself).")
    base_ramp: bool = doc(
        False, "With base_every N: the gap between a query's base-prompt samples shrinks by one after each, from N "
        "down to 2, so a query whose demonstrations keep failing draws the base prompt more and more often.")

    def __post_init__(self) -> None:
        require(self.prompt_choice in ("fixed", "online"),
                 f"prompt_choice must be fixed or online, got '{self.prompt_choice}'")
        require(0 <= self.pool_min_share <= 1, f"pool_min_share must be in [0, 1], got {self.pool_min_share}")
        require(self.demo_order in ("similarity", "resolved"),
                f"demo_order must be similarity or resolved, got '{self.demo_order}'")
        require(self.retire_after >= 0, f"retire_after must be >= 0, got {self.retire_after}")
        require(self.max_demo_chars >= 0, f"max_demo_chars must be >= 0, got {self.max_demo_chars}")
        require(self.k >= 1, f"k must be >= 1, got {self.k}")
        require(not (self.keep_demonstrations and (self.rotate_among or self.prompt_choice == "online")),
                "keep_demonstrations shows a query the same demonstrations every time; rotate_among and "
                "prompt_choice online change them: drop one of them")
        require(self.base_every is None or self.base_every >= 0, f"base_every must be >= 0, got {self.base_every}")
        require(not (self.base_every and self.prompt_choice == "online"),
                "base_every sets which samples show the base prompt; prompt_choice online chooses that itself: "
                "drop one of them")
        require(not self.base_ramp or self.base_every is None or self.base_every >= 2,
                f"base_ramp shortens the gap between base-prompt samples from base_every down to 2: base_every must "
                f"be >= 2 with it, got {self.base_every}")
        require(0 <= self.demo_groups <= MAX_DEMO_GROUPS,
                f"demo_groups must be in [0, {MAX_DEMO_GROUPS}], got {self.demo_groups}")
        require(not (self.demo_groups and (self.rotate_among or self.keep_demonstrations
                                           or self.prompt_choice == "online")),
                "demo_groups shows every query of a group one block; rotate_among, keep_demonstrations and "
                "prompt_choice online choose a query's own: drop one of them")
        require(-1 <= self.min_similarity <= 1, f"min_similarity must be in [-1, 1], got {self.min_similarity}")
        require(self.rotate_among == 0 or self.k < self.rotate_among <= 32,
                 f"rotate_among must be 0 (off) or in ({self.k}, 32] (more than k), got {self.rotate_among}")


def default_base_every(method: str, prompt_choice: str) -> int:
    """The base_every a run uses where its config names none: the default for the adaptive method with a fixed
    choice of prompt; none for a baseline (which keeps its own prompts) or where the online choice decides."""
    return DEFAULT_BASE_EVERY if method == "adaptive" and prompt_choice == "fixed" else 0
