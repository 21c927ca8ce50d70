"""A search experiment on Ray Tune: Optuna's TPE (or random or grid draws), ASHA, Ray local or a cluster.

`start_search` checks the spec, makes the experiment folder, starts (or joins) Ray, runs the trials
(`RunTrainable`, one rldojo run folder each) and writes experiment.csv, best_spec.yaml and the
plots. Ctrl-C stops every running trial cleanly (each writes its last checkpoint), and
`resume_search` continues the experiment: Tune restores its trials and sampler, and restarted trials
continue from their run folders. GP-UCB experiments (`scheduler: gp_ucb`) run in
`rldojo.search.candidates`.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from loguru import logger

from rldojo.errors import UserError
from rldojo.run.spec import Spec
from rldojo.run.trial import preflight
from rldojo.search.experiment import (
    FINISHED,
    SearchOutcome,
    TrialRecord,
    best_record,
    new_experiment_dir,
    prune_checkpoints,
    ranked,
    read_state,
    write_best_spec,
    write_experiment_csv,
    write_state,
)
from rldojo.search.metric import check_metric
from rldojo.search.prepare import check_search
from rldojo.search.space import PASS_KEY, decode, param_space
from rldojo.search.trials import TrialJob, job_for

TUNE_DIR = "tune"
#: Object store of a local Ray: trials exchange only small results, so it stays small.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024**2


def start_search(
    spec: Spec,
    runs_root: Path,
    command: list[str],
    *,
    narrowed_from: dict[str, Any] | None = None,
    ray_address: str | None = None,
    show_progress: bool = True,
) -> SearchOutcome:
    """Check the spec, make its experiment folder under `runs_root` and run the search."""
    check_before_start(spec)
    experiment_dir = new_experiment_dir(spec, Path(runs_root))
    write_state(experiment_dir, spec, command, narrowed_from)
    return _run(spec, experiment_dir, command, ray_address, resume=False, show_progress=show_progress)


def resume_search(
    experiment_dir: Path, command: list[str], *, ray_address: str | None = None, show_progress: bool = True
) -> SearchOutcome:
    """Continue the experiment in `experiment_dir`: unfinished trials go on from their checkpoints, then
    the rest of the trials run."""
    spec = read_state(experiment_dir)
    check_before_start(spec)
    return _run(spec, Path(experiment_dir), command, ray_address, resume=True, show_progress=show_progress)


def check_before_start(spec: Spec) -> None:
    """Everything that can be wrong before a trial starts: the search block with the spec, the metric,
    the optional packages, the env and the agent (nothing is written when one fails)."""
    check_search(spec)
    check_metric(spec)
    preflight(spec)


def _run(
    spec: Spec, experiment_dir: Path, command: list[str], ray_address: str | None, resume: bool, show_progress: bool
) -> SearchOutcome:
    if spec.search.scheduler.name == "gp_ucb":
        from rldojo.search.candidates import run_gp_ucb

        if ray_address:
            logger.warning("GP-UCB trains its rounds one after another in this process; --ray-address is not used")
        return run_gp_ucb(spec, experiment_dir, command, resume=resume, show_progress=show_progress)
    job = job_for(spec, experiment_dir, command, trial_overrides(spec))
    with ray_session(ray_address):
        records = _run_tune(spec, job, experiment_dir, resume, show_progress)
    return finish_experiment(spec, experiment_dir, records, expected_trials(spec))


# ---- Ray ------------------------------------------------------------------------------------------------
@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Ray for the search: the Ray this process already joined, the cluster at `address`, or a local one
    on this machine's cores. Ray started or joined here is left at the end."""
    import ray

    if ray.is_initialized():
        if address:
            logger.warning("this process is already connected to Ray; --ray-address {} is not used", address)
        yield
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address:
            _check_reachable(address)
            ray.init(address=address, **quiet)
        else:
            from rldojo.envs.vector.cpus import usable_cpus

            ray.init(
                num_cpus=usable_cpus(),
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                **quiet,
            )
    except (ConnectionError, TimeoutError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise UserError(
            f"could not start or join {where}: {exc}. Start a cluster with `ray start --head` and pass the address "
            "it prints (--ray-address HOST:PORT), or leave --ray-address out to run on this machine."
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that nobody answers is refused at once: Ray itself would retry
    for minutes before giving up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, or a form Ray resolves itself
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port} ({exc.strerror or exc})") from None


# ---- Tune -----------------------------------------------------------------------------------------------
def trial_dirname(trial: Any) -> str:
    """Tune's folder of a trial is named by its id, as the trial's run folder is."""
    return trial.trial_id


def trial_budget(spec: Spec) -> int:
    """Frames of a trial that is never stopped early (ASHA's max_t, else the spec's budget)."""
    scheduler = spec.search.scheduler
    if scheduler.name == "asha" and scheduler.max_t is not None:
        return min(scheduler.max_t, spec.train.max_frames)
    return spec.train.max_frames


def trial_overrides(spec: Spec) -> list[str]:
    """`--set`s every trial gets: ASHA's max_t below the spec's budget becomes the trials' budget."""
    budget = trial_budget(spec)
    return [] if budget == spec.train.max_frames else [f"train.max_frames={budget}"]


def asha_settings(spec: Spec) -> tuple[float, float, float]:
    """(grace_period, reduction_factor, max_t) in frames, with the defaults filled in."""
    scheduler = spec.search.scheduler
    max_t = trial_budget(spec)
    grace = scheduler.grace_period or max(1, int(max_t / scheduler.reduction_factor**2))
    if grace >= max_t:
        raise UserError(
            f"search.scheduler.grace_period ({grace:,} frames) must be below the trial budget ({max_t:,} frames, "
            "max_t or train.max_frames): ASHA would never stop a trial early. Lower grace_period."
        )
    return grace, scheduler.reduction_factor, max_t


def expected_trials(spec: Spec) -> int:
    """How many trials the experiment runs in all."""
    search = spec.search
    grid = math.prod(len(dim.values) for dim in search.dimensions().values() if dim.kind == "grid")
    return grid * search.trial_count


def _searcher(spec: Spec) -> Any:
    from ray.tune.search.basic_variant import BasicVariantGenerator

    search = spec.search
    if search.sampler == "optuna_tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # Optuna's default of 10 random trials before TPE models would leave small searches random.
        startup = max(2, min(10, search.trial_count // 3))
        sampler = optuna.samplers.TPESampler(seed=spec.meta.seed, n_startup_trials=startup, constant_liar=True)
        return OptunaSearch(sampler=sampler)
    if search.sampler == "random":
        return BasicVariantGenerator(random_state=spec.meta.seed)
    return BasicVariantGenerator()


def _scheduler(spec: Spec) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.search.scheduler.name == "asha":
        grace, factor, max_t = asha_settings(spec)
        # A trial's budget is max_t already (trial_overrides), so the survivors of the last rung end by
        # themselves, as runs that reached their budget (status done), rather than being stopped at it.
        return ASHAScheduler(
            time_attr="frame", max_t=max_t, grace_period=grace, reduction_factor=factor, stop_last_trials=False
        )
    return FIFOScheduler()


def _run_tune(spec: Spec, job: TrialJob, experiment_dir: Path, resume: bool, show_progress: bool) -> list:
    from ray import tune

    from rldojo.search.progress import SearchDisplay, TrialEvents, short_values
    from rldojo.search.trainable import RunTrainable

    search = spec.search
    trainable = tune.with_resources(
        tune.with_parameters(RunTrainable, job=job), {"cpu": search.resources.cpu, "gpu": search.resources.gpu}
    )
    tune_path = experiment_dir.resolve() / TUNE_DIR  # Tune takes absolute paths (or URIs) only
    if resume:
        if not tune.Tuner.can_restore(str(tune_path)):
            raise UserError(
                f"'{experiment_dir}' holds no Ray Tune state to resume (it stopped before its first trial); "
                "start the search again."
            )
        tuner = tune.Tuner.restore(str(tune_path), trainable=trainable, resume_unfinished=True)
    else:
        passes = search.trial_count if search.sampler == "grid" else 1
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(job.dims, passes),
            tune_config=tune.TuneConfig(
                metric=search.metric,
                mode=search.mode,
                search_alg=_searcher(spec),
                scheduler=_scheduler(spec),
                num_samples=1 if search.sampler == "grid" else search.trial_count,
                max_concurrent_trials=search.max_concurrent,
                trial_dirname_creator=trial_dirname,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=TUNE_DIR,
                storage_path=str(experiment_dir.resolve()),
                verbose=0,
                callbacks=[TrialEvents(search.metric)],
            ),
        )

    def describe(config: dict[str, Any]) -> str:
        return short_values(decode(job.dims, config))

    display = SearchDisplay(
        search.metric, search.mode, expected_trials(spec), trial_budget(spec), describe, enabled=show_progress
    )
    logger.info(
        "search {}: {} trials of up to {:,} frames, {} sampler, scheduler {}; experiment folder {}",
        spec.name,
        expected_trials(spec),
        trial_budget(spec),
        search.sampler,
        search.scheduler.name,
        experiment_dir,
    )
    # Tune prints its own banners with print(); stdout is for rldojo's results.
    with display, redirect_stdout(sys.stderr), warnings.catch_warnings():
        # A resumed trial reports its iterations from 1 again; Optuna keeps the first report of each.
        warnings.filterwarnings("ignore", message="The reported value is ignored", category=UserWarning)
        grid = tuner.fit()
    return [_record(result, spec, job) for result in grid]


def _record(result: Any, spec: Spec, job: TrialJob) -> TrialRecord:
    """A Tune result as a TrialRecord; the status from the trial's run folder and Tune's last result."""
    name = Path(result.path).name
    run_dir = job.trials_dir / name
    metrics = result.metrics or {}
    frames = int(metrics.get("frame") or 0)
    value = metrics.get(job.metric)
    value = float(value) if isinstance(value, (int, float)) else math.nan
    trial_file = run_dir / "trial.json"
    trial = json.loads(trial_file.read_text()) if trial_file.is_file() else {}
    if result.error is not None:
        status = "error"
    elif trial.get("status") == "done" or (metrics.get("done") and frames >= trial_budget(spec)):
        status = "done"
    elif metrics.get("done"):
        status = "stopped early"
    else:
        status = "interrupted" if metrics else "pending"
    history = []
    frame_table = result.metrics_dataframe
    if frame_table is not None and job.metric in frame_table and "frame" in frame_table:
        history = [
            (float(frame), float(metric))
            for frame, metric in zip(frame_table["frame"], frame_table[job.metric])
            if isinstance(metric, (int, float)) and math.isfinite(metric)
        ]
    wall = (trial.get("aggregate") or {}).get("wall_s", {}).get("mean") if trial else None
    config = dict(result.config or {})
    values = decode(job.dims, config) if all(key in config for key in job.dims) else {}
    extra = {"pass": int(config[PASS_KEY])} if PASS_KEY in config else {}
    if status == "error":
        logger.error("trial {} failed: {}", name, _first_line(result.error))
    return TrialRecord(
        name=name,
        status=status,
        metric=value,
        frames=frames,
        values=values,
        run_dir=run_dir if run_dir.is_dir() else None,
        wall_s=wall,
        history=history,
        extra=extra,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


# ---- the end --------------------------------------------------------------------------------------------
def finish_experiment(spec: Spec, experiment_dir: Path, records: list[TrialRecord], expected: int) -> SearchOutcome:
    """experiment.csv, best_spec.yaml and the plots; the checkpoints of all but the best trials are deleted
    once the experiment is complete."""
    from rldojo.search.plots import asha_rungs, plot_parameters, plot_rungs

    search = spec.search
    records = sorted(records, key=lambda record: record.name)
    order = ranked(records, search.mode)
    records = order + [record for record in records if record not in order]
    complete = len(records) >= expected and all(record.status in (*FINISHED, "error") for record in records)
    best = best_record(records, search.mode)
    files = {"experiment.csv": write_experiment_csv(experiment_dir, records, list(search.space), search.metric)}
    if best is not None and best.run_dir is not None:
        files["best_spec.yaml"] = write_best_spec(experiment_dir, spec, best)
    title = f"{spec.name}: {spec.agent.algo} on {spec.env.id}"
    plots = experiment_dir / "plots"
    for path in plot_parameters(records, search.dimensions(), search.metric, plots, title, best):
        files[f"plots/{path.name}"] = path
    if search.scheduler.name == "asha" and any(record.history for record in records):
        grace, factor, max_t = asha_settings(spec)
        files["plots/rungs.png"] = plot_rungs(
            records, asha_rungs(grace, factor, max_t), search.metric, plots / "rungs.png", title
        )
    if complete:
        prune_checkpoints(records, search.keep_checkpoints, search.mode)
    failed = [record for record in records if record.status == "error"]
    if failed and len(failed) == len(records):
        raise RuntimeError(
            f"every trial failed; the first one's log: {failed[0].run_dir or experiment_dir / TUNE_DIR / failed[0].name}"
        )
    return SearchOutcome(experiment_dir, records, search.metric, search.mode, complete, best, files)
