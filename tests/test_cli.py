"""The command line as users and pipelines call it: exit codes, messages, machine-readable output."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SIMULATED = ["--backend", "simulated", "--embedder", "hashing", "--min-similarity", "0"]


def cli(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "adaptive_batch", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_run_json_summary_and_outputs(synthetic, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", synthetic(30), *SIMULATED, "--budget", "3", "--output", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["n_queries"] == 30 and summary["samples"] <= 90
    for name in ("results.parquet", "results.jsonl", "samples.parquet", "samples.jsonl", "summary.json", "run.json"):
        assert (out / name).exists(), name
    assert "\x1b[" not in proc.stdout + proc.stderr  # no ANSI codes when not on a terminal
    queries = {r["id"]: r for r in map(json.loads, synthetic(30).read_text().splitlines())}
    for row in map(json.loads, (out / "results.jsonl").read_text().splitlines()):
        assert (row["question"], row["reference"]) == (queries[row["id"]]["question"], queries[row["id"]]["answer"])


def test_rerun_of_the_same_command_resumes_and_replays(synthetic, tmp_path):
    args = ("run", synthetic(30), *SIMULATED, "--budget", "3", "--output", tmp_path / "run", "--json")
    first = json.loads(cli(*args).stdout)
    log = (tmp_path / "run" / "samples.jsonl").read_bytes()
    saved = (tmp_path / "run" / "summary.json").read_bytes()
    again = json.loads(cli(*args).stdout)
    assert (tmp_path / "run" / "samples.jsonl").read_bytes() == log  # replayed: nothing generated again
    # A finished run's summary describes the run that computed it (its wall time, its timings):
    # a replay neither overwrites it nor reports its own, seconds-long, figures instead.
    assert (tmp_path / "run" / "summary.json").read_bytes() == saved and again == first


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--budget", "1", "--warmup", "2"], "budget must be >= warmup (2), got 1.0"),
        (["--k", "0"], "k must be >= 1, got 0"),
        (["--backend", "nope"], "unknown backend 'nope' (known: "),
    ],
)
def test_inconsistent_options_exit_2_with_one_message(synthetic, tmp_path, extra, message):
    proc = cli("run", synthetic(5), *SIMULATED, "--output", tmp_path / "r", *extra)
    assert proc.returncode == 2
    assert message in proc.stderr.replace("\n", " ")
    assert "Traceback" not in proc.stderr


def test_bad_dataset_exits_2_naming_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "question": "q", "answer": "1"}\n{"id": "b", "answer": "2"}\n')
    proc = cli("run", path, *SIMULATED, "--output", tmp_path / "r")
    assert proc.returncode == 2
    assert "bad.jsonl:2: field 'question': missing field" in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr


def test_unwritable_output_directory_exits_2(synthetic, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = cli("run", synthetic(5), *SIMULATED, "--output", blocker / "run")
    assert proc.returncode == 2 and "cannot write to the output directory" in proc.stderr.replace("\n", "")


def test_help_is_instant_because_heavy_engines_are_not_imported():
    code = (
        "import sys, adaptive_batch.cli as c; "
        "heavy = [m for m in ('torch', 'faiss', 'llama_cpp', 'sentence_transformers', 'pyarrow') if m in sys.modules]; "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    help_text = cli("run", "--help").stdout
    assert "Average compute per query" in help_text and "--method" in help_text and "--budget-unit" in help_text


def test_export_refuses_an_oracle_run_with_exit_2_and_allows_it_marked(synthetic, tmp_path):
    out = tmp_path / "run"
    assert cli("run", synthetic(10), *SIMULATED, "--budget", "2", "--output", out, "--quiet").returncode == 0
    refused = cli("export", out)
    assert refused.returncode == 2 and "reference answers" in refused.stderr and "--allow-reference" in refused.stderr
    assert not (out / "export" / "submission.jsonl").exists()
    allowed = cli("export", out, "--allow-reference")
    assert allowed.returncode == 0 and "warning" in allowed.stderr
    assert all(json.loads(line)["oracle_verified"] for line in (out / "export" / "submission.jsonl").open())


def test_label_free_run_score_and_export_from_the_command_line(synthetic, tmp_path):
    data, out = synthetic(12), tmp_path / "lf"
    proc = cli("run", data, *SIMULATED, "--verifier", "consistency", "--consistency-min-votes", "2", "--budget", "4",
               "--output", out, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verification"]["reads_references"] is False
    score = cli("score", out, "--reference", data, "--json")
    assert score.returncode == 0, score.stderr
    assert 0 <= json.loads(score.stdout)["accuracy"] <= 1
    assert cli("export", out).returncode == 0


def test_verify_command_rescored_file_and_bad_input(synthetic, tmp_path):
    data = synthetic(3)
    first = json.loads(data.read_text().splitlines()[0])
    expression = first["question"].split("What is ")[1].rstrip("?")
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"id": first["id"], "response": expression}) + "\n"
                         + json.dumps({"id": first["id"], "response": "no idea"}) + "\n")
    proc = cli("verify", responses, "--data", data)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["passed"] for line in proc.stdout.splitlines()] == [True, False]
    responses.write_text('{"id": "syn-0"}\n')
    bad = cli("verify", responses, "--data", data)
    assert bad.returncode == 2 and "responses.jsonl:1" in bad.stderr and "response" in bad.stderr


def test_run_help_shows_each_default_in_its_sections_panel_and_plain_flags():
    help_text = cli("run", "--help").stdout
    for panel in ("Data", "Model and backend", "Sampling", "Schedule and budget", "Retrieval", "Verifier", "Prompt",
                  "Escalation", "Output"):
        assert f"─ {panel} ─" in help_text, panel
    rows = {line.strip("│ ").split()[0]: line for line in help_text.splitlines() if line.strip("│ ").startswith("--")}
    for flag, default in (("--budget", "6.0"), ("--warmup", "2"), ("--k", "3"), ("--temperature", "0.8"),
                          ("--max-tokens", "48"), ("--seed", "0")):
        assert f"[default: ({default})]" in rows[flag], (flag, rows[flag])
    # The method's default depends on the verifier, so its help says so instead of one value.
    assert "[default:" not in rows["--method"] and "Default: adaptive, or elimination with" in rows["--method"]
    flag_line = next(line for line in help_text.splitlines() if "--warmup-together" in line)
    assert "--no-warmup-together" in flag_line and "<bool>" not in flag_line


def test_a_flag_is_given_bare_and_its_negation_overrides_a_config_file(tmp_path):
    from adaptive_batch.cli.run import resolve_config

    toml = tmp_path / "run.toml"
    toml.write_text("[schedule]\ncontinuous = true\n")
    config, _ = resolve_config("data.jsonl", str(toml), {"continuous": False})
    assert config.schedule.continuous is False
    proc = cli("config", "data.jsonl", "--continuous", "--budget", "4")
    assert proc.returncode == 0 and "continuous = true" in proc.stdout and "budget = 4.0" in proc.stdout


def test_version_prints_the_package_version():
    from importlib.metadata import version

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"adaptive-batch {version('adaptive-batch')}"


def test_an_unknown_config_key_suggests_the_nearest_known_one(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("[schedule]\nbudjet = 4\n")
    proc = cli("config", "data.jsonl", "--config", str(toml))
    assert proc.returncode == 2 and "budjet (did you mean budget?)" in proc.stderr.replace("\n", "")


def test_compare_names_the_queries_that_changed_and_fails_a_regression(synthetic, tmp_path):
    data = synthetic(40)
    for name, budget in (("good", 4), ("worse", 2)):
        assert cli("run", data, *SIMULATED, "--budget", budget, "--output", tmp_path / name, "--quiet").returncode == 0
    same = cli("compare", tmp_path / "good", tmp_path / "good", "--json", "--max-drop", "0", "--max-lost", "0")
    report = json.loads(same.stdout)
    assert same.returncode == 0 and report["resolved_before_only"] == [] and report["figures"]["coverage"]["delta"] == 0
    worse = cli("compare", tmp_path / "good", tmp_path / "worse", "--json", "--max-drop", "0.01")
    report = json.loads(worse.stdout)
    good = {r["id"]: r for r in map(json.loads, (tmp_path / "good" / "results.jsonl").read_text().splitlines())}
    bad = {r["id"]: r for r in map(json.loads, (tmp_path / "worse" / "results.jsonl").read_text().splitlines())}
    assert report["resolved_before_only"] == sorted(q for q in good if good[q]["resolved"] and not bad[q]["resolved"])
    assert report["resolved_before_only"] and report["figures"]["coverage"]["delta"] < 0
    assert worse.returncode == 4 and "regression" in worse.stderr
    low, high = report["figures"]["coverage"]["ci95"]
    assert low <= report["figures"]["coverage"]["delta"] <= high


def test_list_shows_each_run_with_its_status(synthetic, tmp_path):
    data = synthetic(20)
    assert cli("run", data, *SIMULATED, "--budget", 3, "--output", tmp_path / "runs" / "done", "--quiet").returncode == 0
    assert cli("run", data, *SIMULATED, "--budget", 3, "--output", tmp_path / "runs" / "cut", "--quiet").returncode == 0
    (tmp_path / "runs" / "cut" / "summary.json").unlink()  # as a kill before the end leaves it
    rows = {Path(r["run_dir"]).name: r for r in map(json.loads, cli("list", tmp_path / "runs", "--json").stdout.splitlines())}
    assert rows["done"]["status"] == "complete" and rows["done"]["coverage"] is not None
    assert rows["cut"]["status"] == "in progress or killed" and rows["cut"]["samples"] > 0
    assert rows["done"]["method"] == "adaptive" and rows["done"]["dataset"] == str(data)
