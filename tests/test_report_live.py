"""``report`` on a run that has not finished: rebuilt from its log, as the finished run would show it."""

from __future__ import annotations

import shutil

from adaptive_batch import RunConfig, run
from adaptive_batch.report import load_run, write_report


def test_a_run_without_its_tables_is_reported_from_its_log(synthetic, tmp_path):
    finished = run(RunConfig.from_dict({
        "data": {"path": str(synthetic(40))}, "backend": {"name": "simulated"}, "retrieval": {"embedder": "hashing"},
        "schedule": {"budget": 4}, "output_dir": str(tmp_path / "done")}))
    killed = tmp_path / "killed"  # as a kill -9 before the end leaves it: run.json and the log
    shutil.copytree(finished.run_dir, killed)
    for name in ("summary.json", "results.parquet", "results.jsonl", "samples.parquet"):
        (killed / name).unlink()
    done, live = load_run(finished.run_dir), load_run(killed)
    assert live.summary["status"] == "in progress" and "so far" in live.summary["coverage_kind"]
    assert live.summary["coverage"] == done.summary["coverage"] and live.curve == done.curve
    same = ("id", "resolved", "samples", "final_answer", "resolved_round", "demo_ids")
    assert [{k: r[k] for k in same} for r in live.results] == [{k: r[k] for k in same} for r in done.results]
    page = write_report([str(killed)], str(tmp_path / "report"))
    assert "in progress" in page.read_text()
    # A half-written last record (the kill landed mid-write) is no sample, as on resume.
    with open(killed / "samples.jsonl", "ab") as handle:
        handle.write(b'{"query_id": "syn-1", "sample_')
    assert load_run(killed).summary["samples"] == done.summary["samples"]
