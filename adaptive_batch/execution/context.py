"""Preparing a run: everything it is made of, built once, in one place (``prepare``).

Every later step (the planner, the sample executor, the outputs) reads the ``RunContext``
instead of taking a dozen parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

from phases import (
    METHODS,
    ContinuousPlanner,
    DemonstrationChoice,
    Method,
    PlanSettings,
    RoundPlanner,
    RunState,
    calibrated_caps,
    total_budget,
    uniform_targets,
)
from phases.allocator import Allocator, warmup_budgets
from retrieval import DemonstrationPool, create_embedder

from ..backends import Backend, create_backend
from ..cache import ResponseCache
from ..config import RunConfig
from ..config_file import complete_plugin_options, upgrade_saved_config
from ..costs import CostModel, format_amount
from ..dataset import dataset_fingerprint, load_queries
from ..errors import ConfigError
from ..prompts import PromptBuilder
from ..records import Query, SampleRecord, SamplingParams
from ..runlog import PendingRound, SampleLog, prepare_run_dir
from ..verifiers import Verifier, create_verifier
from ..events import Status
from .pricing import PromptPricer
from .timings import Timings

# Settings that say where a run writes, or how often it logs, not what it computes: a resume
# may change them.
UNCHECKED_ON_RESUME = ("output_dir", "cache_dir", "log_every_samples", "log_every_s", "strict")


@dataclass
class RunContext:
    config: RunConfig
    method: Method
    verifier: Verifier
    queries: list[Query]
    cap: int  # the most samples any query may get
    # Prompt builders by engine: the escalated engine's may have its own prompt style.
    builders: dict[str, PromptBuilder]
    backend: Backend
    # Engines by name, with their sampling: "main", and "escalated" where escalation is on.
    engines: dict[str, tuple[Backend, SamplingParams]]
    run_dir: Path
    log: SampleLog
    logged: dict[tuple[str, int], SampleRecord]
    pending: PendingRound
    cache: Optional[ResponseCache]
    pool: Optional[DemonstrationPool]
    embedder_id: Optional[str]
    state: RunState
    warmup_targets: Optional[list[int]]
    timings: Timings
    started: float
    warnings: list[str] = field(default_factory=list)

    @property
    def builder(self) -> PromptBuilder:
        """The main engine's prompt builder."""
        return self.builders["main"]

    @property
    def escalated(self) -> Optional[Backend]:
        return self.engines["escalated"][0] if "escalated" in self.engines else None

    def planner(self) -> Union[RoundPlanner, ContinuousPlanner]:
        """The schedule's planner: rounds, or continuous."""
        schedule, state = self.config.schedule, self.state
        per_sample = state.cost.per_sample
        targets = uniform_targets(state, self.config.seed) if not self.method.early_stop and per_sample else None
        cap_of: Optional[Callable[[int], int]] = None
        if schedule.stop_confidence is not None:
            cap_of = calibrated_caps(state, self.verifier.success_lower_bound, schedule.stop_confidence,
                                     schedule.warmup, self.cap)
        retrieval = self.config.retrieval
        pricer = None if state.cost.per_sample else PromptPricer(self.builders, self.queries, self.engines,
                                                                  state.cost, state)
        demonstrations = DemonstrationChoice(
            self.pool, self.method.demonstrations, retrieval.k, retrieval.min_similarity, retrieval.rotate_among,
            schedule.warmup, self.warmup_targets, online=retrieval.prompt_choice == "online",
            retire_after=retrieval.retire_after, max_chars=retrieval.max_demo_chars,
            keep=retrieval.keep_demonstrations, order=retrieval.demo_order, grouped=retrieval.demo_groups > 0,
            base_every=retrieval.base_every, base_ramp=retrieval.base_ramp, state=state, pricer=pricer)
        escalate_after = self.config.escalation.after if "escalated" in self.engines else None
        settings = PlanSettings(self.method, self.config.seed, self.cap, schedule.warmup, targets,
                                self.warmup_targets, cap_of, escalate_after, pricer, schedule.unit_cap,
                                schedule.adaptive_together)
        if schedule.continuous:
            return ContinuousPlanner(state, settings, demonstrations)
        return RoundPlanner(state, settings, demonstrations, schedule.warmup_together, schedule.max_rounds)


def prepare(config: RunConfig, backend: Optional[Backend] = None, embedder: Any = None,
            escalation_backend: Optional[Backend] = None, repair: bool = False,
            notify: Optional[Callable[[Status], None]] = None) -> RunContext:
    """Build the run: verifier, queries, engines, the run directory and its log, the pool, the state.

    ``notify`` hears what it is doing at each step, for displays that must not stay blank while
    a model loads."""
    started = time.perf_counter()
    timings = Timings()
    say = (lambda text: notify(Status(text))) if notify is not None else (lambda text: None)
    schedule = config.schedule
    verifier = create_verifier(config.verifier)
    queries = load_queries(config.data, require_answers=verifier.needs_reference)
    # Said once the data is read and checked: a bad input's error stands alone on stderr.
    say(f"read {len(queries)} queries from {config.data.path or config.data.adapter}")
    if schedule.stop_confidence is not None and verifier.success_lower_bound is None:
        raise ConfigError(f"--stop-confidence needs a verifier that estimates each query's success probability "
                          f"(consistency); '{config.verifier.name}' does not")
    with timings.measure("model_load"):
        if backend is None:
            say(f"loading the model ({config.backend.name}: {config.backend.model or 'the default model'})")
            backend = create_backend(config.backend)
        engines = _engines(config, backend, escalation_backend)
    run_dir = Path(config.output_dir)
    log, logged, warnings = _open_run_dir(config, run_dir, engines, repair)
    if verifier.wants_logprobs and not all(engine.reports_logprobs for engine, _ in engines.values()):
        warnings.append(f"votes are counted, not weighted by confidence: the {config.backend.name} backend reports no "
                        "log-probabilities (both llama.cpp backends do; --openai-logprobs asks a server for them)")
        verifier = verifier.without_logprobs()
    if logged:
        say(f"resuming: {len(logged)} logged samples to replay")
    method = METHODS[schedule.method]
    pool, embedder, vectors = _pool(config, method, queries, embedder, timings, say)
    cost = _cost_model(config, engines)
    state = RunState(queries, total_budget(schedule, len(queries)), vote_rule=verifier.resolved, cost=cost,
                     vote_score=verifier.score_vote)
    builders = _builders(config, verifier, engines)
    if not cost.per_sample:
        _refuse_a_budget_below_one_sample(config, state.total_budget, builders["main"], queries, engines, cost)
    cap = verifier.sample_cap(schedule.per_query_cap)
    warmup_targets = None
    if schedule.allocator:
        with timings.measure("allocation"):
            warmup_targets = _learned_warmup(config, queries, state, cap, embedder, vectors)
    pending = PendingRound(run_dir)
    return RunContext(
        config=config, method=method, verifier=verifier, queries=queries, cap=cap,
        builders=builders, backend=backend, engines=engines,
        run_dir=run_dir, log=log, logged=logged, pending=pending,
        cache=ResponseCache(config.cache_dir) if config.cache_dir else None, pool=pool,
        embedder_id=embedder.model_id if pool is not None else None, state=state, warmup_targets=warmup_targets,
        timings=timings, started=started, warnings=warnings,
    )


# How to resume a run whose setting a later version resolves differently.
RESUME_HINTS = {
    "config.schedule.method": "A label-free verifier now runs elimination unless --method names another method "
                              "(before, adaptive): to resume this run, give --method with the method it was started with.",
    "config.retrieval.retire_after": "Demonstrations that keep failing are now retired after 4 showings (before, never): "
                                     "to resume this run, give --retire-after with the value it was started with.",
    "config.retrieval.demo_order": "A prompt's demonstrations are now shown oldest resolved first (before, least similar "
                                   "first): to resume this run, give --demo-order similarity.",
    "config.retrieval.base_every": "Every fifth adaptive sample of a query now shows the base prompt (before, none): to "
                                   "resume this run, give --base-every with the value it was started with.",
}


def _open_run_dir(config: RunConfig, run_dir: Path, engines, repair: bool):
    """Create or check the run directory (``run.json``) and replay its log: (log, logged, warnings)."""
    manifest = {
        # Plugins' options complete: a default that changes in a later version shows on resume.
        "config": complete_plugin_options({k: v for k, v in config.to_dict().items() if k not in UNCHECKED_ON_RESUME},
                                          saved=False),
        "dataset_sha256": dataset_fingerprint(config.data),
        "model": engines["main"][0].model_id,
    }
    if "escalated" in engines:
        manifest["escalation_model"] = engines["escalated"][0].model_id
    defaults = {"config": type(config)(data=config.data).to_dict()}
    for key in UNCHECKED_ON_RESUME:
        defaults["config"].pop(key, None)
    resuming = prepare_run_dir(run_dir, manifest, defaults, repair=repair, upgrade=upgrade_saved_config,
                               hints=RESUME_HINTS)
    log = SampleLog(run_dir)
    logged = log.load(repair=repair) if resuming else {}
    warnings = [f"{log.path}: {log.duplicates_dropped} duplicate record(s) collapsed"] if log.duplicates_dropped else []
    return log, logged, warnings


def _pool(config: RunConfig, method: Method, queries: list[Query], embedder: Any, timings: Timings,
          say: Callable[[str], None]):
    """The demonstration pool over every question (none for methods without demonstrations)."""
    if method.demonstrations == "none":
        return None, embedder, None
    with timings.measure("embedder_load"):
        if embedder is None:
            say(f"loading the embedder ({config.retrieval.embedder})")
            embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
    say(f"embedding {len(queries)} questions")
    with timings.measure("embedding"):
        vectors = embedder.embed([q.question for q in queries])
    say("building the index")
    with timings.measure("index"):
        pool = DemonstrationPool([q.id for q in queries], [q.question for q in queries], vectors)
        if config.retrieval.demo_groups:
            pool.group(config.retrieval.demo_groups, config.seed)
    return pool, embedder, vectors


Engines = dict[str, tuple[Backend, SamplingParams]]


def _engines(config: RunConfig, backend: Backend, given: Optional[Backend]) -> Engines:
    """The main engine, and the one escalated samples go to: given, the main one (same engine and
    model, other sampling), or a new one."""
    sampling, escalation = config.sampling, config.escalation
    params = SamplingParams(sampling.temperature, sampling.top_p, sampling.top_k, sampling.max_tokens,
                            tuple(sampling.stop))
    engines = {"main": (backend, params)}
    if not escalation.enabled:
        return engines
    escalated_params = replace(params, temperature=escalation.temperature) if escalation.temperature is not None \
        else params
    if given is None:
        name = escalation.backend or config.backend.name
        model = escalation.model or config.backend.model
        same = name == config.backend.name and model == config.backend.model
        # Another plugin takes its own options; the same plugin with another model shares the main one's.
        options = config.backend.options if name == config.backend.name else escalation.options
        given = backend if same else create_backend(replace(config.backend, name=name, model=model, options=options))
    engines["escalated"] = (given, escalated_params)
    return engines


def _builders(config: RunConfig, verifier: Verifier, engines: Engines) -> dict[str, PromptBuilder]:
    prompts = {"main": config.prompt, "escalated": config.escalation.prompt(config.prompt)}
    return {name: PromptBuilder(prompts[name], canonical=verifier.canonical, k=config.retrieval.k) for name in engines}


def _refuse_a_budget_below_one_sample(config: RunConfig, total: float, builder: PromptBuilder, queries: list[Query],
                                      engines: Engines, cost: CostModel) -> None:
    """A budget in tokens, FLOPs or dollars that no sample fits in would run nothing and say little:
    refused, with what one sample costs (the cheapest prompt of the first 100 queries, one output token)."""
    backend = engines["main"][0]
    counts = [backend.prompt_tokens(builder.prompt_for(q.question)) for q in queries[:100]]
    if not counts or None in counts:
        return
    least = cost.of(min(counts), 0, 1, "main")
    if total < least:
        unit = config.schedule.budget_unit
        name = {"flops": " FLOPs", "output-tokens": " output tokens", "total-tokens": " tokens"}.get(unit, "")
        raise ConfigError(f"--budget {config.schedule.budget:g} ({unit} a query; {format_amount(total, unit)}{name} in "
                          f"all) does not cover one sample: the cheapest prompt ({min(counts)} tokens) alone costs "
                          f"{format_amount(least, unit)}{name}; raise --budget")


def parameter_counts(config: RunConfig, engines: Engines) -> dict[str, Optional[int]]:
    """Each engine's parameter count: as configured (--model-parameters, for the main engine), else as
    the engine reports it."""
    counts = {name: backend.parameter_count() for name, (backend, _) in engines.items()}
    if config.backend.parameters is not None:
        counts["main"] = config.backend.parameters
        if "escalated" in engines and engines["escalated"][0] is engines["main"][0]:
            counts["escalated"] = config.backend.parameters
    return counts


def _cost_model(config: RunConfig, engines: Engines) -> CostModel:
    unit = config.schedule.budget_unit
    parameters = parameter_counts(config, engines)
    if unit == "flops":
        unknown = [name for name, count in parameters.items() if not count]
        if unknown:
            raise ConfigError(f"--budget-unit flops needs the model's parameter count, which the {unknown[0]} engine "
                              f"({engines[unknown[0]][0].model_id}) does not report: pass --model-parameters")
    return CostModel(unit, config.prices.table, parameters)


def _learned_warmup(config: RunConfig, queries, state, cap: int, embedder, vectors) -> list[int]:
    """Warm-up budgets from a learned allocator: warmup x queries samples, by the Lagrangian rule.

    ``vectors`` are the questions' embeddings where the pool already computed them.
    """
    allocator = Allocator.load(config.schedule.allocator)
    if embedder is None:
        embedder = create_embedder(config.retrieval.embedder, config.retrieval.embedder_model)
    if embedder.model_id != allocator.embedder:
        raise ConfigError(f"the allocator was trained with the embedder {allocator.embedder}, this run uses "
                          f"{embedder.model_id}; pass the same --embedder/--embedder-model")
    questions = [q.question for q in queries]
    total = min(state.total_budget, config.schedule.warmup * len(queries))
    return warmup_budgets(allocator, [q.id for q in queries], questions,
                          vectors if vectors is not None else embedder.embed(questions), config.seed, total, cap)
