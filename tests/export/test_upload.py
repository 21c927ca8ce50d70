"""`rldojo upload` and `rldojo train --upload-hf`: everything up to the hub call (the hub cannot be
reached from the test machines): what is packed, the size shown, the question and its refusal,
exit 2 without a token or repo, and that the upload call gets the right folder and repo."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.checkpoint import load_checkpoint

pytest.importorskip("huggingface_hub")

REPO = "someone/rldojo-runs"


def cli(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"}, input=input)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    """A token and repo in the environment, online, and HfApi's calls recorded instead of sent
    (with a snapshot of what the uploaded folder held at the time of the call)."""
    import huggingface_hub
    from huggingface_hub import constants

    calls: dict[str, list] = {"create_repo": [], "upload_folder": []}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"].append({"repo_id": repo_id, "token": self.token, **kwargs})

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        snapshot = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
        copy = tmp_path / "uploaded" / kwargs["path_in_repo"]
        shutil.copytree(folder, copy)
        calls["upload_folder"].append({**kwargs, "token": self.token, "files": snapshot, "copy": copy})

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token saved by a login on this machine
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setenv("HF_DATASET_REPO", REPO)
    return calls


@pytest.fixture()
def dqn_run(trained, tmp_path):
    """A copy of a DQN run (its checkpoints hold optimizer moments and a replay buffer)."""
    copy = tmp_path / "runs" / trained("dqn_cartpole").name
    shutil.copytree(trained("dqn_cartpole"), copy)
    return copy


def test_upload_asks_first_and_sends_a_stripped_copy(hub, dqn_run):
    before = digest(dqn_run)
    result = cli("upload", dqn_run, input="y\n")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    files = sum(1 for p in dqn_run.rglob("*") if p.is_file())
    assert f"upload run {dqn_run} to the Hugging Face dataset {REPO}, folder {dqn_run.name}/" in out
    assert f"{files} files," in out
    assert "2 checkpoints without their optimizer moments and replay buffers" in out and "left out" in out
    assert f"Upload these {files} files? [y/N]" in out
    assert f"uploaded: https://huggingface.co/datasets/{REPO}/tree/main/{dqn_run.name}" in out

    (created,) = hub["create_repo"]
    assert created["repo_id"] == REPO and created["repo_type"] == "dataset" and created["exist_ok"] is True
    (sent,) = hub["upload_folder"]
    assert sent["repo_id"] == REPO and sent["repo_type"] == "dataset" and sent["path_in_repo"] == dqn_run.name
    assert sent["token"] == "hf_test_token"
    assert set(sent["files"]) == {str(p.relative_to(dqn_run)) for p in dqn_run.rglob("*") if p.is_file()}
    assert not Path(sent["folder_path"]).exists()  # the packed copy is removed afterwards

    # the originals are untouched; the copies lost the training state and still load
    assert digest(dqn_run) == before
    original = load_checkpoint(dqn_run / "s0" / "ckpt" / "last.pt")
    shared = load_checkpoint(sent["copy"] / "s0" / "ckpt" / "last.pt")
    assert original["agent"]["optimizers"]["optimizer"]["state"]
    assert original["agent"]["extra"]["replay"]["size"] > 0
    assert shared["agent"]["optimizers"]["optimizer"]["state"] == {}
    assert (
        shared["agent"]["optimizers"]["optimizer"]["param_groups"]
        == original["agent"]["optimizers"]["optimizer"]["param_groups"]
    )
    assert shared["agent"]["extra"]["replay"]["size"] == 0 and shared["agent"]["extra"]["replay"]["obs"].shape[0] == 0
    assert shared["stripped"] == ["optimizer moments", "replay buffers"]
    for name, tensor in original["agent"]["modules"]["q_net"].items():
        torch.testing.assert_close(shared["agent"]["modules"]["q_net"][name], tensor)
    assert sent["files"]["s0/ckpt/last.pt"] < (dqn_run / "s0" / "ckpt" / "last.pt").stat().st_size

    # what was shared evaluates as the run did
    shared_eval = cli("eval", sent["copy"], "--out", sent["copy"].parent / "eval.json")
    assert shared_eval.exit_code == 0, shared_eval.output


def test_refusing_the_question_sends_nothing(hub, dqn_run):
    result = cli("upload", dqn_run, "--repo", "other/repo", input="n\n")
    assert result.exit_code == 1
    assert "folder" in result.output and "nothing uploaded." in result.output
    assert hub["upload_folder"] == [] and hub["create_repo"] == []


def test_no_answer_is_exit_2_and_yes_skips_the_question(hub, dqn_run):
    closed = cli("upload", dqn_run)  # no input: standard input is at its end
    assert closed.exit_code == 2 and "give --yes to upload without asking" in " ".join(closed.output.split())
    assert hub["upload_folder"] == []
    result = cli("upload", dqn_run, "--yes", "--include-optimizer", "--repo", "me/other", "--private")
    assert result.exit_code == 0, result.output
    assert "[y/N]" not in result.output and "with their full training state" in result.output
    (sent,) = hub["upload_folder"]
    assert sent["repo_id"] == "me/other" and hub["create_repo"][0]["private"] is True
    assert sent["files"]["s0/ckpt/last.pt"] == (dqn_run / "s0" / "ckpt" / "last.pt").stat().st_size


def test_an_experiment_uploads_all_its_runs_in_one_folder(hub, dqn_run, trained):
    experiment = dqn_run.parent
    shutil.copytree(trained("ppo_cartpole"), experiment / trained("ppo_cartpole").name)
    result = cli("upload", experiment, "--yes")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"2 runs under {experiment}" in out and "4 checkpoints without their optimizer moments" in out
    (sent,) = hub["upload_folder"]
    assert sent["path_in_repo"] == experiment.name
    assert {f.split("/")[0] for f in sent["files"]} == {dqn_run.name, trained("ppo_cartpole").name}


@pytest.mark.parametrize(
    "unset, message",
    [
        ("HF_TOKEN", "no Hugging Face token: set HF_TOKEN"),
        ("HF_DATASET_REPO", "give --repo OWNER/NAME or set HF_DATASET_REPO"),
    ],
)
def test_missing_token_or_repo_is_exit_2_before_anything_is_packed(hub, dqn_run, monkeypatch, unset, message):
    monkeypatch.delenv(unset)
    result = cli("upload", dqn_run, "--yes")
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "files" not in result.output and hub["upload_folder"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--repo", "no-owner"], "is not a Hugging Face repo id"),
        (["--repo", "a/b/c"], "is not a Hugging Face repo id"),
    ],
)
def test_bad_repo_ids_are_exit_2(hub, dqn_run, args, message):
    result = cli("upload", dqn_run, "--yes", *args)
    assert result.exit_code == 2 and message in result.output


def test_offline_mode_and_non_runs_are_exit_2(hub, dqn_run, monkeypatch, tmp_path):
    from huggingface_hub import constants

    (tmp_path / "empty").mkdir()
    result = cli("upload", tmp_path / "empty", "--yes")
    assert result.exit_code == 2 and "holds no run" in result.output
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = cli("upload", dqn_run, "--yes")
    assert offline.exit_code == 2 and "HF_HUB_OFFLINE=0" in offline.output


def test_train_upload_hf_checks_first_then_uploads_the_new_run(hub, monkeypatch, tmp_path):
    from .conftest import CASES  # noqa: F401 - the specs' env ids are registered

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: up\nenv: {id: CartPole-v1, num_envs: 2, vectorize: sync}\n"
        "agent: {algo: ppo, rollout_steps: 16, epochs: 1, minibatch_size: 32, net: {hidden: [8]}}\n"
        "train: {max_frames: 128, eval_every: 64, eval_episodes: 1, checkpoint_every: 64, log_every: 32}\n"
        "meta: {sessions: 1, seed: 0}\ntrack: {tensorboard: false, plots: false}\n"
    )
    runs = tmp_path / "runs"
    monkeypatch.delenv("HF_TOKEN")
    refused = cli("train", spec, "--runs-dir", runs, "--quiet", "--upload-hf")
    assert refused.exit_code == 2 and "no Hugging Face token" in refused.output
    assert not runs.exists()  # nothing trained before the settings were checked

    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    result = cli("train", spec, "--runs-dir", runs, "--quiet", "--upload-hf")
    assert result.exit_code == 0, result.output
    (run_dir,) = runs.iterdir()
    (sent,) = hub["upload_folder"]
    assert sent["repo_id"] == REPO and sent["path_in_repo"] == run_dir.name
    assert "s0/ckpt/last.pt" in sent["files"] and "spec.yaml" in sent["files"]
    assert "[y/N]" not in result.output and "uploaded: " in result.output


def test_upload_without_huggingface_hub_names_the_extra(dqn_run, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a, **k: None if name == "huggingface_hub" else real(name, *a, **k)
    )
    result = cli("upload", dqn_run, "--yes", "--repo", REPO)
    assert result.exit_code == 2 and "pip install 'rldojo[upload]'" in result.output


def test_a_refused_token_is_exit_2_and_a_network_failure_exit_1(hub, dqn_run, monkeypatch):
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    def refuse(self, **kwargs):
        response = httpx.Response(403, request=httpx.Request("POST", "https://huggingface.co/api"))
        raise HfHubHTTPError("403 Forbidden", response=response)

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", refuse)
    refused = cli("upload", dqn_run, "--yes")
    assert refused.exit_code == 2 and "refused the token" in refused.output and "(HTTP 403)" in refused.output

    def unreachable(self, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", unreachable)
    failed = cli("upload", dqn_run, "--yes")
    assert failed.exit_code == 1 and "no route to host" in failed.output


def test_train_upload_hf_that_fails_keeps_the_run_and_says_how_to_send_it(hub, monkeypatch, tmp_path):
    import huggingface_hub

    def unreachable(self, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", unreachable)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: up\nenv: {id: CartPole-v1, num_envs: 2, vectorize: sync}\n"
        "agent: {algo: ppo, rollout_steps: 16, epochs: 1, minibatch_size: 32, net: {hidden: [8]}}\n"
        "train: {max_frames: 64, eval_every: 64, eval_episodes: 1, checkpoint_every: 64, log_every: 32}\n"
        "meta: {sessions: 1, seed: 0}\ntrack: {tensorboard: false, plots: false}\n"
    )
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--upload-hf")
    assert result.exit_code == 1
    (run_dir,) = (tmp_path / "runs").iterdir()
    out = " ".join(result.output.split())
    assert f"send it later with rldojo upload {run_dir}" in out and (run_dir / "s0" / "ckpt" / "last.pt").is_file()
