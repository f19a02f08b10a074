"""The exact prompt a logged sample was sent, rebuilt from its query and demonstration ids.

The log stores no prompts (they would repeat on every row). Each demonstration carried the
response the pool held for that query when the sample was drawn: the pool takes a query's
response once, when the query is resolved, as the state has it after that round's samples are
applied, that is the last passing response of its resolving round (label-free: the first
response that gave the winning answer). So a prompt is a function of the config, the data and
the log, and is rebuilt here by the same ``PromptBuilder`` the run used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from retrieval.pool import Demonstration

from .config import DataConfig, EscalationConfig, PromptConfig, VerifierConfig
from .config_file import upgrade_saved_config
from .dataset import load_queries
from .errors import UserError
from .prompts import PromptBuilder
from .records import Message
from .report.data import load_run, samples_by_query
from .verifiers import create_verifier


def pool_response(samples: list[dict[str, Any]], result: dict[str, Any]) -> str:
    """The response a resolved query gave the pool (see the module docstring)."""
    resolving = [s for s in samples if s["round"] == result["resolved_round"]]
    passing = [s for s in resolving if s["passed"]]
    if passing:
        return max(passing, key=lambda s: s["sample_index"])["text"]
    votes = [s for s in samples if s["passed"] is None and s["answer"] == result["final_answer"]]
    if votes:
        return min(votes, key=lambda s: s["sample_index"])["text"]
    raise UserError(f"query {result['id']} holds no response that resolved it")


def rebuild_prompt(run_dir: str | Path, query_id: str, sample_index: int) -> Union[str, tuple[Message, ...]]:
    view = load_run(run_dir)
    config = upgrade_saved_config(view.summary["config"])
    queries = {q.id: q for q in load_queries(DataConfig.from_dict(config["data"]))}
    by_query = samples_by_query(view)
    sample = next((s for s in by_query.get(query_id, []) if s["sample_index"] == sample_index), None)
    if sample is None:
        raise UserError(f"{run_dir} holds no sample {sample_index} of query '{query_id}'")
    results = {r["id"]: r for r in view.results}
    demos = [Demonstration(d, queries[d].question, pool_response(by_query[d], results[d]), 0.0)
             for d in sample["demo_ids"]]
    verifier = create_verifier(VerifierConfig.from_dict(config["verifier"]))
    prompt = PromptConfig.from_dict(config["prompt"])
    if sample.get("engine") == "escalated":
        prompt = EscalationConfig.from_dict(config.get("escalation", {})).prompt(prompt)
    builder = PromptBuilder(prompt, canonical=verifier.canonical,
                            k=int(config.get("retrieval", {}).get("k", 3)))
    return builder.prompt_for(queries[query_id].question, demos)
