"""What nightly pipelines rely on: config files, JSON summaries, --fail-under, --dry-run, reports."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from .test_cli import SIMULATED, cli

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def test_config_show_round_trips_through_a_toml_file(synthetic, tmp_path):
    data = synthetic(12)
    flags = ("--budget", "3", "--method", "elimination", "--seed", "5", "--stop", "\\n", "--simulated-boost",
             "0.5", "--verifier", "consistency", "--consistency-min-votes", "2", "--output", tmp_path / "run")
    shown = cli("config", data, *SIMULATED, *flags)
    assert shown.returncode == 0, shown.stderr
    resolved = tomllib.loads(shown.stdout)
    assert resolved["schedule"]["budget"] == 3 and resolved["sampling"]["stop"] == ["\n"]
    assert resolved["backend"]["options"] == {"boost": 0.5}
    config_file = tmp_path / "nightly.toml"
    config_file.write_text(shown.stdout)
    again = cli("config", "--config", config_file)
    assert again.returncode == 0 and tomllib.loads(again.stdout) == resolved
    # A flag overrides the file.
    override = tomllib.loads(cli("config", "--config", config_file, "--budget", "4").stdout)
    assert override["schedule"]["budget"] == 4 and override["schedule"]["method"] == "elimination"
    # The file runs, and gives the same run as the flags.
    from_file = cli("run", "--config", config_file, "--json")
    assert from_file.returncode == 0, from_file.stderr
    summary = json.loads(from_file.stdout)
    assert summary["config"]["schedule"]["method"] == "elimination" and summary["config"]["seed"] == 5


@pytest.mark.parametrize("text, message", [
    ("[schedule]\nbugdet = 3\n", "unknown key(s) in config.schedule: bugdet"),
    ("[schedule]\nbudget = 'six'\n", "config.schedule.budget"),
    ("[schedule\n", "nightly.toml"),
])
def test_a_bad_config_file_exits_2_naming_the_key(synthetic, tmp_path, text, message):
    config_file = tmp_path / "nightly.toml"
    config_file.write_text(text)
    proc = cli("run", synthetic(5), "--config", config_file, *SIMULATED)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_fail_under_gates_on_coverage(synthetic, tmp_path):
    data = synthetic(20)
    base = ("run", data, *SIMULATED, "--budget", "2", "--output", tmp_path / "run", "--json")
    passed = cli(*base, "--fail-under", "0.0")
    coverage = json.loads(passed.stdout)["coverage"]
    assert passed.returncode == 0 and 0 < coverage < 1
    failed = cli(*base, "--fail-under", str(min(1.0, coverage + 0.01)))
    assert failed.returncode == 4 and "below --fail-under" in failed.stderr
    assert json.loads(failed.stdout)["coverage"] == coverage  # the summary is still printed


def test_dry_run_forecasts_and_spends_nothing(synthetic, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", synthetic(30), *SIMULATED, "--budget", "4", "--warmup", "2", "--output", out, "--dry-run",
               "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["budget_samples"] == 120 and plan["warmup_samples"] == 60 and plan["planned_samples_max"] == 120
    assert plan["prompt_tokens_est"] > 0 and plan["calibration_samples"] == 3 and plan["seconds_per_sample"] > 0
    assert not out.exists()
    text = cli("run", synthetic(30), *SIMULATED, "--dry-run")
    assert text.returncode == 0 and "samples: at most" in text.stdout


def test_report_and_inspect_on_a_run_and_its_baseline(synthetic, tmp_path):
    data = synthetic(30)
    for method in ("adaptive", "uniform"):
        assert cli("run", data, *SIMULATED, "--method", method, "--budget", "4", "--output", tmp_path / method,
                   "--quiet").returncode == 0
    proc = cli("report", tmp_path / "adaptive", tmp_path / "uniform", "--output", tmp_path / "report")
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    for png in ("coverage_vs_compute.png", "samples_per_query.png", "resolutions_and_pool.png",
                "top_demonstrations.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000 and png in page
    assert page.count("<details id='r0-") == 30 and "href='#r1-syn-0'" in page
    curves = json.loads((tmp_path / "report" / "curves.json").read_text())
    assert [c["coverage"] for c in curves] == [
        json.loads((tmp_path / m / "summary.json").read_text())["coverage"] for m in ("adaptive", "uniform")
    ]
    assert curves[0]["curve"]["coverage"][-1] == curves[0]["coverage"]
    shown = cli("inspect", tmp_path / "adaptive", "--id", "syn-3")
    assert shown.returncode == 0 and "syn-3" in shown.stdout and "verdict" in shown.stdout
    missing = cli("inspect", tmp_path / "adaptive", "--id", "nope")
    assert missing.returncode == 2 and "no query 'nope'" in missing.stderr


def test_a_self_contained_report_is_one_file_with_its_images_inside(synthetic, tmp_path):
    import base64
    import re

    assert cli("run", synthetic(20), *SIMULATED, "--budget", "3", "--output", tmp_path / "run", "--quiet").returncode == 0
    proc = cli("report", tmp_path / "run", "--output", tmp_path / "report", "--self-contained")
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    sources = re.findall(r"<img src='([^']*)'", page)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    images = [base64.b64decode(src.split(",", 1)[1]) for src in sources]
    assert all(image.startswith(b"\x89PNG") for image in images)
    assert base64.b64decode(sources[0].split(",", 1)[1]) == (tmp_path / "report" / "coverage_vs_compute.png").read_bytes()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(synthetic, tmp_path):
    data = synthetic(30)
    assert cli("run", data, *SIMULATED, "--budget", "4", "--output", tmp_path / "run", "--quiet").returncode == 0
    assert cli("report", tmp_path / "run", "--output", tmp_path / "report").returncode == 0
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1400,1800"]
    page = (tmp_path / "report" / "report.html").as_uri()
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert "Coverage against compute" in dom and "syn-0" in dom
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] == 1800 and pixels.shape[1] == 1400
    # The plots drew: far more than text and borders is coloured (a page of broken images is white).
    non_white = (pixels[..., :3].min(axis=2) < 0.9).mean()
    assert non_white > 0.04, non_white
