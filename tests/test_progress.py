"""What a person sees while a run runs: the live display in a real terminal (tmux), and plain lines
where stderr is not a terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import shared_dataset, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
BAR = re.compile(r"(warmup|adaptive|best-of-n) round (\d+) .*?(\d+)/(\d+) samples")


@pytest.mark.model
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_the_live_display_shows_its_status_from_the_start_and_moves_within_a_round(tmp_path):
    """The real default model in tmux: a status line is on screen before the first sample, and
    the bar's sample count goes up while a round is still running."""
    data = write_jsonl(tmp_path / "svamp12.jsonl",
                       [json.loads(line) for line in shared_dataset("svamp.jsonl").read_text().splitlines()[:12]])
    socket = f"adaptive-batch-test-{os.getpid()}"
    # The terminal's own size, not a COLUMNS the test runner may have set, is what the display sees.
    command = (f"cd {ROOT} && env -u COLUMNS -u LINES HF_HUB_OFFLINE=1 {sys.executable} -m adaptive_batch run {data} "
               f"--method elimination --budget 2 --output {tmp_path / 'run'}; sleep 60")
    tmux = ["tmux", "-L", socket]
    subprocess.run([*tmux, "new-session", "-d", "-s", "run", "-x", "80", "-y", "12", command], check=True)
    statuses_before_samples, counts_by_round = set(), {}
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (tmp_path / "run" / "summary.json").exists():
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "run"], capture_output=True, text=True).stdout
            bar = BAR.search(screen)
            if bar:
                counts_by_round.setdefault(int(bar.group(2)), set()).add(int(bar.group(3)))
            elif not counts_by_round:
                statuses_before_samples |= {s for s in ("importing the engines", "read 12 queries", "loading the model")
                                            if s in screen}
            time.sleep(0.1)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert statuses_before_samples, "no status line before the first sample"
    assert any(len(counts) >= 2 for counts in counts_by_round.values()), counts_by_round


PROGRESS_LINE = re.compile(r"progress: phase=[\w-]+ round=\d+ samples=(\d+)/\d+ resolved=\d+/\d+ "
                           r"samples_per_s=[\d.]+ tokens_per_s=[\d.]+ elapsed_s=\d+ eta_s=\d* "
                           r"output_tokens=\d+ prompt_tokens=\d+ cached_tokens=\d+( cost_usd=[\d.e-]+)?")


def test_without_a_terminal_progress_is_plain_lines_of_the_text_alone(synthetic, tmp_path):
    command = [sys.executable, "-m", "adaptive_batch", "run", str(synthetic(60)), "--backend", "simulated",
               "--embedder", "hashing", "--budget", "4", "--simulated-latency-s", "0.002", "--simulated-slots", "4",
               "--output", str(tmp_path / "run"), "--progress-every", "0"]
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and "\x1b" not in proc.stderr
    for line in lines:
        assert line.startswith("status: ") or PROGRESS_LINE.fullmatch(line), line
        assert line == line.rstrip()  # nothing padded to a terminal's width
    assert lines[0].startswith("status: ")
    counts = [int(PROGRESS_LINE.fullmatch(line).group(1)) for line in lines if line.startswith("progress: ")]
    assert len(counts) > 1 and counts == sorted(counts)
    quiet = subprocess.run(command[:-4] + ["--output", str(tmp_path / "again"), "--progress-every", "3600"],
                           capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    # With lines at most an hour apart (however busy the machine), a short run prints its statuses
    # and one line: the first, at once.
    assert sum(line.startswith("progress: ") for line in quiet.stderr.splitlines()) == 1
