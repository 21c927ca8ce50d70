"""Trial: `meta.sessions` sessions of one spec (seeds seed+0..n-1), run in parallel processes when
there are cores, aggregated into trial.json, curve.png and report.md in the run folder."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import platform
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from loguru import logger

from rldojo.envs.vector.cpus import usable_cpus
from rldojo.errors import UserError
from rldojo.evaluate.stats import t_mean_interval
from rldojo.run import interrupt
from rldojo.run.progress import TrialProgress
from rldojo.run.report import render_report
from rldojo.run.session import Session
from rldojo.run.spec import Spec, spec_from_raw, spec_to_yaml
from rldojo.track.files import write_json_atomic
from rldojo.track.log import setup_quiet_child
from rldojo.track.plots import plot_trial_curve
from rldojo.track.tracker import read_metrics

_VERSIONED = ("rldojo", "torch", "numpy", "gymnasium", "pydantic", "scipy")


# ---- run folder ---------------------------------------------------------------------------------
def new_run_dir(spec: Spec, runs_root: Path) -> Path:
    """runs/<name>_<YYYYmmdd-HHMMSS>/, never an existing folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_root) / f"{spec.name}_{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        candidate, n = Path(f"{base}-{n}"), n + 1
    candidate.mkdir(parents=True)
    return candidate


def provenance(spec: Spec, command: list[str] | None) -> dict[str, Any]:
    versions = {}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "created": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(command) if command else None,
        "git_revision": _git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
        "seeds": [spec.meta.seed + i for i in range(spec.meta.sessions)],
    }


def _git_revision() -> str | None:
    source = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_spec_file(run_dir: Path, spec: Spec, command: list[str] | None) -> None:
    text = (
        "# Resolved spec of this run (after --set and ${var}); `provenance` is ignored on resume.\n"
        + spec_to_yaml(spec)
        + yaml.safe_dump({"provenance": provenance(spec, command)}, sort_keys=False)
    )
    (run_dir / "spec.yaml").write_text(text)


def read_run_spec(run_dir: Path) -> Spec:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(
            f"run folder '{run_dir}' does not exist. Give a folder made by `rldojo train` (runs/<name>_<timestamp>/)."
        )
    path = run_dir / "spec.yaml"
    if not path.is_file():
        raise UserError(f"'{run_dir}' is not an rldojo run folder: it has no spec.yaml.")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"'{path}' is not valid YAML ({exc}); the run folder is damaged.") from None
    if not isinstance(raw, dict):
        raise UserError(f"'{path}' does not hold a spec; the run folder is damaged.")
    raw.pop("provenance", None)
    return spec_from_raw(raw, [], source=f"'{path}'")


# ---- running ------------------------------------------------------------------------------------
def preflight(spec: Spec) -> None:
    """Fail before any folder is written: the env must build and the agent must fit its spaces."""
    from rldojo.envs import make_env
    from rldojo.run.agents import build_agent

    env = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps)
    try:
        if spec.env.shaping is not None:
            from rldojo.envs.text import TextEnv

            if not isinstance(env.unwrapped, TextEnv):
                raise UserError(
                    f"env.shaping adds text-world bonuses (valid actions, keywords of the instruction) "
                    f"and needs a text world such as dojo/TextCraft-v0; {spec.env.id} is not one. "
                    "Remove env.shaping, or shape rewards with a gymnasium wrapper of your own env."
                )
        build_agent(spec, env.observation_space, env.action_space, spec.env.num_envs, spec.meta.seed)
    except TypeError as exc:
        raise UserError(f"{spec.agent.algo} cannot run on {spec.env.id}: {exc}") from None
    finally:
        env.close()


def check_resume(spec: Spec, run_dir: Path) -> None:
    """Before resuming anything, every unfinished session's checkpoint must load: a corrupt one
    stops the resume with nothing written."""
    from rldojo.run.checkpoint import load_checkpoint

    for index in range(spec.meta.sessions):
        session_dir = Path(run_dir) / f"s{index}"
        result = session_dir / "result.json"
        if result.exists() and json.loads(result.read_text()).get("status") == "done":
            continue
        ckpt = session_dir / "ckpt" / "last.pt"
        if ckpt.exists():
            load_checkpoint(ckpt)


def run_trial(spec: Spec, run_dir: Path, verbose: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every session of the trial and aggregate them. Sessions that finished are
    kept as they are; unfinished ones resume from their last checkpoint."""
    sessions = spec.meta.sessions
    workers = min(sessions, spec.meta.max_parallel or usable_cpus())
    progress = TrialProgress(spec, enabled=show_progress)
    interrupt.install()
    started = time.perf_counter()
    try:
        with progress:
            if workers <= 1:
                results = [Session(spec, run_dir, i, progress.update).run() for i in range(sessions)]
            else:
                results = _run_parallel(spec, run_dir, workers, progress, verbose)
    finally:
        interrupt.restore()
    trial = aggregate_trial(spec, run_dir, results, wall_s=time.perf_counter() - started)
    return trial


_progress_queue: Any = None


def _init_worker(progress_queue: Any, verbose: bool) -> None:
    global _progress_queue
    _progress_queue = progress_queue
    setup_quiet_child(verbose)
    interrupt.install()


def _send_progress(index: int, info: dict[str, Any]) -> None:
    _progress_queue.put((index, info))


def _session_worker(spec_json: str, run_dir: str, index: int) -> dict[str, Any]:
    spec = Spec.model_validate_json(spec_json)
    return Session(spec, Path(run_dir), index, _send_progress).run()


def _run_parallel(
    spec: Spec, run_dir: Path, workers: int, progress: TrialProgress, verbose: bool
) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")  # no forked torch/thread state in the workers
    progress_queue = ctx.Queue()
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            try:
                index, info = progress_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            progress.update(index, info)

    pump_thread = threading.Thread(target=pump, daemon=True)
    pump_thread.start()
    logger.info("running {} sessions, {} at a time in separate processes", spec.meta.sessions, workers)
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue, verbose)
        ) as pool:
            futures = [
                pool.submit(_session_worker, spec.model_dump_json(), str(run_dir), i) for i in range(spec.meta.sessions)
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                raise failed[0].exception()
            return [f.result() for f in futures]
    finally:
        stop.set()
        pump_thread.join()


# ---- aggregation --------------------------------------------------------------------------------
def mean_ci(values: list[float | None], level: float = 0.95) -> dict[str, Any]:
    """Mean over sessions with its Student t interval (`evaluate.stats.t_mean_interval`; none from one session)."""
    clean = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0, "level": level}
    interval = t_mean_interval(clean, level)
    return {
        "mean": float(np.mean(clean)),
        "std": float(np.std(clean, ddof=1)) if len(clean) > 1 else None,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "n": len(clean),
        "level": level,
    }


_AGGREGATED = (
    "final_return_ma",
    "best_return_ma",
    "success_ma",
    "best_eval_return",
    "fps",
    "train_seconds",
    "wall_s",
    "frames",
)


def aggregate_trial(spec: Spec, run_dir: Path, results: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    status = "done" if all(r.get("status") == "done" for r in results) else "interrupted"
    trial = {
        "name": spec.name,
        "env": spec.env.id,
        "algo": spec.agent.algo,
        "status": status,
        "run_dir": str(run_dir),
        "trial_wall_s": wall_s,
        "sessions": results,
        "aggregate": {key: mean_ci([r.get(key) for r in results]) for key in _AGGREGATED},
    }
    write_json_atomic(run_dir / "trial.json", trial)
    metrics = [read_metrics(run_dir / f"s{r['session']}" / "metrics.csv") for r in results]
    if spec.track.plots:
        plot_trial_curve(metrics, run_dir / "curve.png", f"{spec.name}: {spec.agent.algo} on {spec.env.id}")
    (run_dir / "report.md").write_text(render_report(spec, run_dir, trial))
    return trial
