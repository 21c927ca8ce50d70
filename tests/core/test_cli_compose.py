"""A CLI that composes: answers on stdout, logs and progress on stderr; --version; a readable
spec reference; did-you-mean for spec names; errors that name the --set behind them."""

import json

import pytest
from typer.testing import CliRunner

from rldojo.cli import app

from .helpers import FAST_CARTPOLE, rldojo_process


def cli(*args: str, cwd=None):
    """Run the CLI in-process; the result keeps stdout and stderr apart."""
    import os

    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    finally:
        os.chdir(old)


def test_version_prints_the_version_on_stdout():
    from rldojo.version import __version__

    result = cli("--version")
    assert result.exit_code == 0 and result.stdout == f"rldojo {__version__}\n" and result.stderr == ""


def test_specs_lists_on_stdout_and_filters_by_algorithm():
    result = cli("specs")
    assert result.exit_code == 0 and "classic/ppo_cartpole" in result.stdout and result.stderr == ""
    only_ppo = cli("specs", "ppo")
    assert "classic/ppo_lunar" in only_ppo.stdout and "classic/dqn_cartpole" not in only_ppo.stdout
    assert "llm/textcraft_sft_grpo" in cli("specs", "grpo").stdout  # a pipeline with a GRPO stage


def test_fields_reference_is_plain_text_for_one_algorithm():
    result = cli("specs", "--fields", "ppo")
    assert result.exit_code == 0 and result.stderr == ""
    text = result.stdout
    lines = text.splitlines()
    assert lines[0].startswith("agent (algo: ppo): Proximal Policy Optimization")
    gamma = next(line for line in lines if line.startswith("agent.gamma "))
    assert "0 < float <= 1" in gamma and "(default: 0.99)" in gamma
    schedule = next(line for line in lines if line.startswith("agent.optim.schedule "))
    assert "one of: constant, linear, cosine" in schedule
    assert "    Discount factor." in lines  # the field's docstring, under it
    for repr_text in ("Literal[", "typing.", "FieldInfo", "Optional[", "NoneType"):
        assert repr_text not in text, repr_text
    assert "agent (algo: dqn)" not in text and "agent.buffer_size" not in text and "meta.sessions" not in text


def test_fields_reference_whole_and_by_section():
    whole = cli("specs", "--fields").stdout
    for algo in ("ppo", "dqn", "sac", "sft", "grpo", "pipeline"):
        assert f"agent (algo: {algo}):" in whole
    sessions = next(line for line in whole.splitlines() if line.startswith("meta.sessions "))
    assert "1 <= int <= 256" in sessions and "(default: 4)" in sessions
    assert "max_parallel" in whole and "int >= 1, or null  (default: null)" in whole
    train = cli("specs", "--fields", "train").stdout
    assert train.startswith("train ") and "train.max_frames" in train and "env.id" not in train


@pytest.mark.parametrize(
    "args, message",
    [
        (["specs", "--fields", "ppp"], "Did you mean ppo?"),
        (["specs", "--fields", "trian"], "Did you mean train?"),
        (["specs", "dqm"], "Did you mean dqn?"),
        (["train", "classic/ppo_cartpol"], "Did you mean classic/ppo_cartpole?"),
        (["train", "ppo_lunr"], "Did you mean ppo_lunar?"),
        (["train", "--set", "agent.gamma=2"], "agent.gamma: 2 is not allowed"),
        (["train", "--set", "agent.gamma=2"], "(from --set agent.gamma=2)"),
        (["train", "--set", "train.iterations=3"], "(from --set train.iterations=3)"),
        (["train", "--set", "agent.algo=nope"], "(from --set agent.algo=nope)"),
    ],
)
def test_bad_input_is_answered_on_stderr_with_a_hint(tmp_path, args, message):
    result = cli(*args, *(["--runs-dir", str(tmp_path / "runs")] if args[0] == "train" else []))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_an_error_the_spec_file_makes_names_no_override(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(FAST_CARTPOLE | {"meta": {"sessions": 0}}))
    result = cli("train", str(path), "--set", "agent.gamma=0.9", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 2 and "meta.sessions: 0" in result.stderr and "from --set" not in result.stderr


def test_train_prints_its_summary_on_stdout_and_logs_on_stderr(tmp_path):
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(FAST_CARTPOLE))
    result = cli("train", str(path), "--runs-dir", str(tmp_path / "runs"), "-q")
    assert result.exit_code == 0, result.output
    assert "final return MA" in result.stdout and "run folder:" in result.stdout
    assert "INFO" not in result.stdout and "INFO" in result.stderr and "final return MA" not in result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = cli("report", str(run_dir))
    assert report.exit_code == 0 and "final return MA" in report.stdout


def test_redirected_reference_and_piped_listing_in_a_real_process(tmp_path):
    reference = rldojo_process("specs", "--fields", cwd=tmp_path)
    assert reference.returncode == 0 and reference.stderr == ""
    assert reference.stdout.count("\n") > 500 and "agent.optim.lr" in reference.stdout
    listing = rldojo_process("specs", cwd=tmp_path)
    ppo_lines = [line for line in listing.stdout.splitlines() if "ppo" in line]  # `rldojo specs | grep ppo`
    assert any("classic/ppo_cartpole" in line for line in ppo_lines)
