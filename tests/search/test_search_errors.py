"""`rldojo search` refuses bad input with exit code 2 and one paragraph, before anything is written
(and before Ray starts, except for an unreachable cluster address)."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml
from typer.testing import CliRunner

from rldojo.cli import app


def write_spec(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def search(*args: str):
    return CliRunner().invoke(app, ["search", *args], env={"COLUMNS": "200"})


def test_a_wrong_cluster_address_is_a_user_error(tmp_path, search_raw):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    result = search(str(spec_path), "--ray-address", f"127.0.0.1:{port}", "--runs-dir", str(tmp_path), "-q")
    assert result.exit_code == 2, result.output
    assert f"could not start or join the Ray cluster at 127.0.0.1:{port}" in " ".join(result.output.split())


def test_user_errors_exit_2_before_anything_is_written(tmp_path, search_raw):
    spec_path = write_spec(tmp_path / "search.yaml", search_raw)
    bad_key = search(
        str(spec_path), "--set", "search.space.agent.optim.lrr=uniform(0.1, 0.2)", "--runs-dir", str(tmp_path)
    )
    assert bad_key.exit_code == 2 and "agent.optim.lrr: unknown key" in bad_key.output
    sessions = search(str(spec_path), "--set", "meta.sessions=2", "--runs-dir", str(tmp_path))
    assert sessions.exit_code == 2 and "meta.sessions is 2" in sessions.output
    metric = search(str(spec_path), "--set", "search.metric=retrun_ma", "--runs-dir", str(tmp_path))
    assert metric.exit_code == 2 and "'retrun_ma' is not a column" in metric.output
    no_block = dict(search_raw)
    no_block.pop("search")
    plain = search(str(write_spec(tmp_path / "plain.yaml", no_block)), "--runs-dir", str(tmp_path))
    assert plain.exit_code == 2 and "has no search block" in plain.output
    (tmp_path / "elsewhere").mkdir()
    not_experiment = search("--resume", str(tmp_path / "elsewhere"))
    assert not_experiment.exit_code == 2 and "is not a search experiment folder" in not_experiment.output
    narrow = search(str(spec_path), "--narrow", str(tmp_path / "elsewhere"), "--runs-dir", str(tmp_path))
    assert narrow.exit_code == 2 and "is not a search experiment folder" in narrow.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["elsewhere", "plain.yaml", "search.yaml"]
