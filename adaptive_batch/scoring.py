"""After a run: re-verify responses, score a label-free run against references, export a submission.

``export`` is the leakage guard: a run whose resolution read the reference answers (or the unit
tests) chose its answers by looking at the labels, so its answers are not a legitimate
leaderboard submission. It is refused unless ``allow_reference`` is set, and then every exported
line says so.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

from .atomic import write_text_atomically
from .config import DataConfig, VerifierConfig
from .dataset import load_queries
from .estimates import warmup_maj_at_k
from .errors import UserError
from .outputs import RESULTS_NAME, SAMPLES_PARQUET, SUMMARY_NAME
from .verifiers import create_verifier
from .verifiers.reference import ReferenceVerifier

SUBMISSION_NAME = "submission.jsonl"
PREDICTIONS_NAME = "predictions.jsonl"
EXPORT_INFO_NAME = "export.json"


class LeakageError(UserError):
    """Exporting an oracle-verified run as a submission."""


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SUMMARY_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} not found: is {run_dir} a run directory of a finished (or stopped) run?") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def _rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise UserError(f"{path} not found: the run directory is incomplete") from None


def read_responses(path: str | Path) -> list[dict[str, Any]]:
    """Responses to verify: JSONL with ``id`` (or ``query_id``) and ``response`` (or ``text``)."""
    path = Path(path)
    if path.is_dir():
        return [{"id": r["query_id"], "response": r["text"], "sample_index": r["sample_index"]}
                for r in _rows(path / SAMPLES_PARQUET)]
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: expected a JSON object")
        query_id = record.get("id", record.get("query_id"))
        response = record.get("response", record.get("text"))
        for name, value in (("id", query_id), ("response", response)):
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise UserError(f"{path}:{number}: field '{name}': missing or not text")
        out.append({"id": str(query_id), "response": str(response), "line": number})
    return out


def verify_responses(responses: Iterable[dict[str, Any]], data: DataConfig, verifier: VerifierConfig) -> list[dict]:
    """Re-score responses with any verifier; the queries (questions, references, tests) come from ``data``."""
    judge = create_verifier(verifier)
    queries = {q.id: q for q in load_queries(data, require_answers=judge.needs_reference)}
    out = []
    for item in responses:
        query = queries.get(item["id"])
        if query is None:
            raise UserError(f"response for id '{item['id']}' has no query in {data.path or data.adapter}")
        verdict = judge(query, item["response"])
        out.append({**{k: v for k, v in item.items() if k != "response"}, "passed": verdict.passed,
                    "answer": verdict.answer, "score": verdict.score, "detail": verdict.detail})
    return out


def score_run(run_dir: str | Path, reference: DataConfig, tolerance: Optional[float] = None) -> dict[str, Any]:
    """Accuracy of a run's final answers against references it did not see; writes score.json."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    extractor = summary.get("extractor") or summary["config"]["verifier"]["extractor"]
    judge = ReferenceVerifier(extractor, tolerance=tolerance if tolerance is not None else 1e-6)
    queries = {q.id: q for q in load_queries(reference, require_answers=True)}
    results = _rows(run_dir / f"{RESULTS_NAME}.parquet")
    missing = [r["id"] for r in results if r["id"] not in queries]
    if missing:
        raise UserError(f"{len(missing)} ids of the run are not in {reference.path}, e.g. '{missing[0]}'")
    samples = _rows(run_dir / SAMPLES_PARQUET)
    tally: Counter = Counter()
    right: dict[str, bool] = {}
    for row in results:
        group = "resolved" if row["resolved"] else "unresolved"
        correct = row["final_answer"] is not None and bool(judge.judge(queries[row["id"]], row["final_answer"]).passed)
        right[row["id"]] = correct
        tally[group] += 1
        tally[f"{group}_correct"] += correct
    n = len(results)
    report = {
        "run_dir": str(run_dir),
        "reference": str(reference.path),
        "n_queries": n,
        "accuracy": (tally["resolved_correct"] + tally["unresolved_correct"]) / n,
        "coverage": tally["resolved"] / n,
        "accuracy_of_resolved": tally["resolved_correct"] / tally["resolved"] if tally["resolved"] else None,
        "accuracy_of_unresolved": tally["unresolved_correct"] / tally["unresolved"] if tally["unresolved"] else None,
        "resolution_read_references": _reads_references(summary),
        "extractor": extractor,
        "samples": summary.get("samples"),
        "pool": _pool_pollution(samples, right, queries, judge),
        # Label-free runs draw their warm-up whole: maj@k with the references now at hand.
        "estimates": warmup_maj_at_k(samples, int(summary["config"]["schedule"]["warmup"]),
                                     lambda query, answer: bool(judge.judge(queries[query], answer).passed)),
    }
    (run_dir / "score.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _pool_pollution(samples: list[dict], right: dict[str, bool], queries: dict, judge) -> dict[str, Any]:
    """How wrong the demonstrations shown were: the share of shown demonstrations whose query's
    answer (the one the pool showed) is wrong, and the accuracy of the samples that showed a wrong
    one against those that showed only right ones."""
    shown = [d for s in samples for d in s["demo_ids"]]

    def accuracy(rows: list[dict]) -> Optional[float]:
        if not rows:
            return None
        return sum(r["answer"] is not None and bool(judge.judge(queries[r["query_id"]], r["answer"]).passed)
                   for r in rows) / len(rows)

    polluted = [s for s in samples if any(not right.get(d, False) for d in s["demo_ids"])]
    clean = [s for s in samples if s["demo_ids"] and all(right.get(d, False) for d in s["demo_ids"])]
    return {
        "demonstrations_shown": len(shown),
        "shown_wrong_share": round(sum(not right.get(d, False) for d in shown) / len(shown), 4) if shown else None,
        "samples_showing_a_wrong_one": len(polluted),
        "accuracy_of_samples_showing_a_wrong_one": accuracy(polluted),
        "samples_showing_only_right_ones": len(clean),
        "accuracy_of_samples_showing_only_right_ones": accuracy(clean),
    }


def _reads_references(summary: dict[str, Any]) -> bool:
    verification = summary.get("verification")
    if isinstance(verification, dict):
        return bool(verification.get("reads_references"))
    # Runs written before the flag existed: only the consistency verifier was label-free.
    return summary.get("config", {}).get("verifier", {}).get("name") != "consistency"


def export_run(run_dir: str | Path, out_dir: str | Path | None = None, allow_reference: bool = False,
               abstain_below: float | None = None) -> dict:
    """Write ``submission.jsonl`` (id -> answer, with its confidence) and ``predictions.jsonl``
    (per-sample details). An answer's confidence is its vote share among the query's samples that
    gave an answer, and its number of votes; ``abstain_below`` leaves out (answer null,
    ``abstained``) the answers whose share is lower, for leaderboards that allow it."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    oracle = _reads_references(summary)
    if oracle and not allow_reference:
        label = summary.get("verification", {}).get("label", summary.get("coverage_kind", "reference answers"))
        raise LeakageError(
            f"{run_dir} was resolved by reading the reference answers ({label}): its answers were chosen "
            "by looking at the labels, so they are not a legitimate submission. Run label-free "
            "(--verifier consistency), or pass --allow-reference to export anyway, marked as oracle-verified."
        )
    out_dir = Path(out_dir) if out_dir else run_dir / "export"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _rows(run_dir / f"{RESULTS_NAME}.parquet")
    samples: dict[str, list[dict]] = {}
    for sample in _rows(run_dir / SAMPLES_PARQUET):
        samples.setdefault(sample["query_id"], []).append(
            {k: sample.get(k) for k in ("sample_index", "phase", "round", "answer", "passed", "score", "text",
                                         "demo_ids", "completion_tokens")}
        )
    marker = {"oracle_verified": True} if oracle else {}
    submission = []
    for r in results:
        answered = [s["answer"] for s in samples.get(r["id"], []) if s["answer"] is not None]
        votes = sum(a == r["final_answer"] for a in answered) if r["final_answer"] is not None else 0
        share = round(votes / len(answered), 4) if answered else 0.0
        row = {"id": r["id"], "answer": r["final_answer"], "confidence": share, "votes": votes,
               "answered_samples": len(answered), **marker}
        if abstain_below is not None and share < abstain_below:
            row.update(answer=None, abstained=True)
        submission.append(row)
    predictions = [
        {"id": r["id"], "answer": r["final_answer"], "resolved": r["resolved"], "samples_used": r["samples"],
         **marker, "samples": sorted(samples.get(r["id"], []), key=lambda s: s["sample_index"])}
        for r in results
    ]
    _write_jsonl(out_dir / SUBMISSION_NAME, submission)
    _write_jsonl(out_dir / PREDICTIONS_NAME, predictions)
    info = {"run_dir": str(run_dir), "n_queries": len(results), "oracle_verified": oracle,
            "abstained": sum(bool(r.get("abstained")) for r in submission), "abstain_below": abstain_below,
            "confidence": "the answer's share of the votes among the query's samples that gave an answer",
            "verification": summary.get("verification"), "model": summary.get("model"),
            "method": summary.get("method"), "files": [SUBMISSION_NAME, PREDICTIONS_NAME]}
    if oracle:
        info["warning"] = "exported with --allow-reference: answers were chosen by reading the reference answers"
    (out_dir / EXPORT_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return {**info, "out_dir": str(out_dir)}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text_atomically(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


__all__ = ["LeakageError", "export_run", "read_responses", "score_run", "verify_responses"]
