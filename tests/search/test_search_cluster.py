"""`rldojo search --ray-address`: trials on a Ray cluster started with `ray start --head` on 127.0.0.1.

This module joins no Ray of its own, so the search connects to the cluster (and leaves it after)."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray
import yaml
from typer.testing import CliRunner

from rldojo.cli import app


def write_spec(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def wait_for_port(port: int, timeout_s: float = 60.0) -> None:
    """Until the head node's GCS listens (ray start takes a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"no Ray head on 127.0.0.1:{port} after {timeout_s:.0f} s")


def test_a_ray_cluster_given_by_address_runs_the_trials(tmp_path, search_raw):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_temp = tempfile.mkdtemp(prefix="rldojo-ray-")  # short: Ray's socket paths must fit 107 characters
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "COLUMNS": "200"}
    ray_command = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [
            ray_command,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--object-store-memory=80000000",
            f"--temp-dir={ray_temp}",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        search_raw["search"].update(trials=1, scheduler="none")
        spec_path = write_spec(tmp_path / "search.yaml", search_raw)
        result = CliRunner().invoke(
            app,
            [
                "search",
                str(spec_path),
                "-q",
                "--ray-address",
                f"127.0.0.1:{port}",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        assert not ray.is_initialized()  # the search left the cluster it joined
        (experiment,) = (tmp_path / "runs").glob("tiny_search-search_*")
        with (experiment / "experiment.csv").open() as handle:
            (row,) = list(csv.DictReader(handle))
        assert row["status"] == "done" and row["frames"] == "768"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` drains the node and stops what it started
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(ray_temp, ignore_errors=True)
