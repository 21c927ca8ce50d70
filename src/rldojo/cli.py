"""The `rldojo` command line: train, dev, eval, enjoy, specs, report.

Exit codes: 0 success, 2 bad input (a clear one-paragraph message, no traceback), 1 failure,
130 interrupted (a last checkpoint was written; resume with `rldojo train --resume RUN_DIR`).
Results (tables, reports, listings) go to stdout, logs and progress bars to stderr.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from loguru import logger
from rich.markup import escape
from rich.table import Table

from rldojo.envs.errors import EnvInputError
from rldojo.errors import UserError
from rldojo.track.log import console, results, setup_console

app = typer.Typer(
    name="rldojo",
    help="rldojo: train RL agents from one spec format — classic deep RL and language-model agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_SPEC = "classic/ppo_cartpole"
EXIT_INTERRUPTED = 130


def _print_version(value: bool) -> None:
    if value:
        from rldojo.version import __version__

        typer.echo(f"rldojo {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print rldojo's version and exit."),
    ] = False,
) -> None:
    """rldojo: train RL agents from one spec format — classic deep RL and language-model agents."""


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a spec field: dotted.path=value (repeatable).", show_default=False),
]


def guarded(fn):
    """Bad input -> one red paragraph and exit 2; anything else -> exit 1 with the error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UserError, EnvInputError) as exc:
            # escape: messages hold brackets (pip install 'rldojo[wandb]') that rich would read as markup
            console().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: say what failed, exit 1
            # One paragraph for the user; the traceback (without local variables) only with --verbose.
            logger.opt(exception=exc).debug("the traceback of what failed")
            console().print(
                f"[bold red]failed:[/] {type(exc).__name__}: {exc} (run again with --verbose for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


def _trial_summary(trial: dict[str, Any]) -> None:
    from rldojo.run.aggregate import describe_interval

    table = Table(title=f"{trial['name']}: {trial['algo']} on {trial['env']} ({trial['status']})")
    for column in (
        "session",
        "seed",
        "frames",
        "final return MA",
        "best return MA",
        "best eval",
        "success MA",
        "fps",
        "wall s",
    ):
        table.add_column(column, justify="right")

    def fmt(value: Any, digits: int = 1) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"

    for r in trial["sessions"]:
        table.add_row(
            str(r["session"]),
            str(r["seed"]),
            fmt(r["frames"]),
            fmt(r["final_return_ma"]),
            fmt(r["best_return_ma"]),
            fmt(r["best_eval_return"]),
            fmt(r["success_ma"], 2),
            fmt(r["fps"], 0),
            fmt(r["wall_s"]),
        )
    agg = trial["aggregate"]["final_return_ma"]
    results().print(table)
    if agg["mean"] is not None:
        ci = (
            ""
            if agg["ci_low"] is None
            else f" ({describe_interval(agg)}: {agg['ci_low']:,.1f} – {agg['ci_high']:,.1f})"
        )
        results().print(f"final return MA over sessions: [bold]{agg['mean']:,.1f}[/]{ci}")
    results().print(f"run folder: [bold]{trial['run_dir']}[/]  (report.md, curve.png, trial.json)")


def _train(
    spec_ref: str | None,
    overrides: list[str],
    resume: Path | None,
    runs_dir: Path,
    verbose: bool,
    quiet: bool,
    dev_frames: int | None = None,
    device: str | None = None,
) -> Path:
    """Train (or resume) a run; -> its folder."""
    from rldojo.run.spec import load_spec
    from rldojo.run.trial import (
        check_resume,
        finished_sessions,
        new_run_dir,
        preflight,
        read_run_spec,
        run_trial,
        write_spec_file,
    )

    setup_console(verbose)
    if resume is not None:
        if spec_ref is not None or overrides:
            raise UserError("--resume continues a run with its own saved spec; do not also give a SPEC or --set.")
        spec = read_run_spec(resume)
        if device is not None:
            spec = _on_device(spec, device)
        if finished_sessions(spec, resume) == spec.meta.sessions:
            results().print(
                f"run [bold]{resume}[/] is finished: all {spec.meta.sessions} sessions reached their budget; "
                f"nothing to resume (its results: {resume / 'report.md'})."
            )
            return resume
        check_resume(spec, resume)
        run_dir = resume
        logger.info("resuming {} in {}", spec.name, run_dir)
    else:
        spec = load_spec(spec_ref or DEFAULT_SPEC, overrides)
        if device is not None:
            spec = _on_device(spec, device)
        if dev_frames is not None:
            spec = _dev_spec(spec, dev_frames)
        preflight(spec)
        run_dir = new_run_dir(spec, runs_dir)
        write_spec_file(run_dir, spec, ["rldojo", *sys.argv[1:]])
        logger.info("run folder {}", run_dir)
    trial = run_trial(spec, run_dir, verbose=verbose, show_progress=not quiet)
    _trial_summary(trial)
    if trial["status"] == "interrupted":
        console().print(
            f"[yellow]interrupted[/]: checkpoints written; resume with [bold]rldojo train --resume {run_dir}[/]"
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    return run_dir


def _dev_spec(spec, frames: int):
    """One session on a small budget, with evaluation and checkpoints still exercised."""
    from rldojo.algos.registry import plays_episodes

    episodes = plays_episodes(spec.agent.algo)  # language models write a row every step already
    train = spec.train.model_copy(
        update={
            "max_frames": min(spec.train.max_frames, frames),
            "eval_every": max(1, frames // 2) if spec.train.eval_every else 0,
            "eval_episodes": min(spec.train.eval_episodes, 3),
            "checkpoint_every": max(1, frames // 2),
            "log_every": spec.train.log_every if episodes else max(1, min(spec.train.log_every, frames // 4)),
            "iterations": None if spec.train.iterations is None else min(spec.train.iterations, 2),
        }
    )
    meta = spec.meta.model_copy(update={"sessions": 1})
    # Language-model agents scale their stages down (a few demonstrations, small groups).
    scale = getattr(spec.agent, "scaled_for_dev", None)
    agent = scale() if scale is not None else spec.agent
    return spec.model_copy(update={"train": train, "meta": meta, "agent": agent, "name": f"{spec.name}-dev"})


def _on_device(spec, device: str):
    """The spec with meta.device replaced: the one setting a resumed run may change (its checkpoints
    load on any device)."""
    from pydantic import ValidationError

    try:
        meta = type(spec.meta).model_validate({**spec.meta.model_dump(), "device": device})
    except ValidationError as exc:
        raise UserError(f"--device {device!r}: {exc.errors()[0]['msg']}") from None
    return spec.model_copy(update={"meta": meta})


@app.command()
@guarded
def train(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Spec file (path.yaml, path.yaml:name) or a shipped spec name; default: classic/ppo_cartpole.",
            show_default=False,
        ),
    ] = None,
    set_: SetOption = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this run folder from its last checkpoints.")
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where new run folders go.")] = Path("runs"),
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="Train on this device (auto, cpu, cuda, cuda:N) whatever meta.device says; also with --resume, "
            "e.g. to continue a GPU run on a CPU machine.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    upload_hf: Annotated[
        bool,
        typer.Option(
            "--upload-hf",
            help="After training, upload the run folder to the Hugging Face dataset repo $HF_DATASET_REPO "
            "(token: $HF_TOKEN), checkpoints without optimizer states, as `rldojo upload RUN --yes`.",
        ),
    ] = False,
) -> None:
    """Train a spec: all its sessions, aggregated into runs/<name>_<timestamp>/."""
    settings = None
    if upload_hf:  # a missing token or repo is found now, not after hours of training
        from rldojo.run.upload import hub_settings

        settings = hub_settings(None)
    run_dir = _train(spec, set_ or [], resume, runs_dir, verbose, quiet, device=device)
    if settings is not None:
        try:
            _upload_pack(run_dir, settings, include_optimizer=False, yes=True, private=False)
        except Exception as exc:  # noqa: BLE001 - the run is safe on disk: say how to send it later, then fail
            console().print(
                f"[yellow]the run is in {escape(str(run_dir))} but was not uploaded[/]; "
                f"send it later with [bold]rldojo upload {escape(str(run_dir))}[/]",
                highlight=False,
            )
            raise exc


@app.command()
@guarded
def dev(
    spec: Annotated[str | None, typer.Argument(help="Spec file or shipped spec name.", show_default=False)] = None,
    set_: SetOption = None,
    frames: Annotated[int, typer.Option(min=1, help="Frame budget of the dev run.")] = 4096,
    runs_dir: Annotated[Path, typer.Option(help="Where new run folders go.")] = Path("runs"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Quick check of a spec: 1 session, a small frame budget, verbose logging."""
    _train(spec, set_ or [], None, runs_dir, verbose=True, quiet=quiet, dev_frames=frames)


@app.command()
@guarded
def search(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Spec with a search block (path.yaml, path.yaml:name, or a shipped spec name).", show_default=False
        ),
    ] = None,
    set_: SetOption = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to run the trials on (HOST:PORT from `ray start --head`); default: a local Ray.",
            show_default=False,
        ),
    ] = None,
    narrow: Annotated[
        Path | None,
        typer.Option(
            "--narrow",
            help="Stage 2: narrow SPEC's space around the best trial of this earlier experiment folder.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this experiment folder.", show_default=False)
    ] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where new experiment folders go.")] = Path("runs"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live table of trials.")] = False,
) -> None:
    """Search a spec's hyperparameters (its search block) with Ray Tune: Optuna's TPE, ASHA early
    stopping, or GP-UCB over candidates. Each trial is a run folder under runs/<name>-search_<time>/;
    the search writes experiment.csv, best_spec.yaml (ready for `rldojo train`) and plots/."""
    from rldojo.run.spec import load_spec
    from rldojo.search.experiment import read_state
    from rldojo.search.prepare import check_search, narrowed_spec
    from rldojo.search.tune import resume_search, start_search

    setup_console(verbose)
    command = ["rldojo", *sys.argv[1:]]
    if resume is not None:
        if spec is not None or set_ or narrow is not None:
            raise UserError(
                "--resume continues an experiment with its own saved spec; do not also give a SPEC, --set or --narrow."
            )
        read_state(resume)  # a folder that is not an experiment fails here, before Ray starts
        outcome = resume_search(resume, command, ray_address=ray_address, show_progress=not quiet)
    else:
        if spec is None:
            raise UserError("give a SPEC with a search block (or --resume EXPERIMENT_DIR).")
        loaded = load_spec(spec, set_ or [])
        check_search(loaded)
        note = None
        if narrow is not None:
            loaded, note = narrowed_spec(loaded, narrow)
        outcome = start_search(
            loaded, runs_dir, command, narrowed_from=note, ray_address=ray_address, show_progress=not quiet
        )
    _search_summary(outcome)
    if not outcome.complete:
        console().print(
            f"[yellow]the search stopped before every trial finished[/]; continue it with "
            f"[bold]rldojo search --resume {escape(str(outcome.experiment_dir))}[/]",
            highlight=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED)


def _search_summary(outcome, shown: int = 10) -> None:
    """The best trials as a table, and where the results are (stdout)."""
    from rldojo.search.progress import short_values

    table = Table(title=f"search {outcome.experiment_dir.name}: best trials by {outcome.metric} ({outcome.mode})")
    for column in ("trial", "status", outcome.metric, "frames", "values"):
        table.add_column(column, justify="right" if column in (outcome.metric, "frames") else "left")
    for record in outcome.records[:shown]:
        value = "—" if math.isnan(record.metric) else f"{record.metric:,.4g}"
        table.add_row(record.name, record.status, value, f"{record.frames:,}", escape(short_values(record.values)))
    results().print(table)
    if len(outcome.records) > shown:
        results().print(f"... and {len(outcome.records) - shown} more trials in experiment.csv")
    if outcome.best is not None:
        results().print(
            f"best: [bold]{outcome.best.name}[/] with {outcome.metric} = {outcome.best.metric:,.4g}; "
            f"train it on several seeds: [bold]rldojo train {escape(str(outcome.files.get('best_spec.yaml')))} "
            "--set meta.sessions=4[/]"
        )
    results().print(
        f"experiment folder: [bold]{escape(str(outcome.experiment_dir))}[/]  (experiment.csv, best_spec.yaml, plots/)"
    )


@app.command("eval")
@guarded
def eval_(
    target: Annotated[Path, typer.Argument(help="Run folder, session folder (s0) or checkpoint file.")],
    episodes: Annotated[
        int | None,
        typer.Option(min=1, help="Episodes to play on each env (default: as many as the run's own evaluations)."),
    ] = None,
    envs: Annotated[
        str | None, typer.Option("--envs", help="Comma-separated env ids to evaluate on (default: the run's env).")
    ] = None,
    ckpt: Annotated[str, typer.Option(help="Which checkpoint of a run: best or last.")] = "best",
    session: Annotated[int | None, typer.Option(help="Session index (default: the best session).")] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the evaluation episodes (language models: of the held-out task draws); default: "
            "the run's own evaluation set, recorded in s<i>/eval_set.json."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write eval.json (default: in the run folder).")] = None,
) -> None:
    """Evaluate a trained agent on its env or several: per-env return and success rate with 80%
    intervals (bootstrap; Jeffreys), the aggregate, and eval.json. Tensor agents act greedily;
    language-model agents play held-out tasks with the native reward and no parse fallback. By
    default the run's own env plays the run's own evaluation set, so the figure matches the run's."""
    from rldojo.evaluate.results import build_eval_report, write_eval_json
    from rldojo.run.evaluate_run import evaluate_run, parse_env_ids

    setup_console()
    env_ids = parse_env_ids(envs)
    run = evaluate_run(target, env_ids, episodes, ckpt, session, seed)
    spec, played, ckpt_path = run.spec, run.played, run.checkpoint
    report = build_eval_report(
        played,
        {
            "checkpoint": str(ckpt_path),
            "run_dir": str(run.run_dir),
            "spec": spec.name,
            "algo": spec.agent.algo,
            "env_ids": list(played),
            "seeds": sorted({chosen.seed for chosen in run.sets.values()}),
            "episodes": max(chosen.episodes for chosen in run.sets.values()),
            "deterministic": _is_deterministic(spec),
            "eval_sets": {
                env_id: {"seed": chosen.seed, "episodes": chosen.episodes, "runs_own_set": chosen.own}
                for env_id, chosen in run.sets.items()
            },
            **({"parse": run.parse_shares()} if run.parse_shares() else {}),
        },
    )
    for env_id, chosen in run.sets.items():
        results().print(("" if chosen.own else "[yellow]") + escape(chosen.describe(env_id)))
    results().print(_eval_table(report, ckpt_path, run.parse_shares()))
    out_path = out or (run.run_dir / "eval.json")
    write_eval_json(out_path, report)
    console().print(f"wrote {out_path}")


def _is_deterministic(spec) -> bool:
    """Tensor agents act greedily; language models do when their eval temperature is 0."""
    from rldojo.algos.registry import plays_episodes

    return not plays_episodes(spec.agent.algo) or spec.agent.generation.eval_temperature == 0


def _eval_table(report: dict, ckpt_path: Path, parse: dict[str, dict[str, float]] | None = None):
    from rich.table import Table

    from rldojo.run.report import parse_shares

    def interval(ci: dict | None, digits: int) -> str:
        if not ci or ci.get("low") is None:
            return "–"
        return f"[{ci['low']:.{digits}f}, {ci['high']:.{digits}f}]"

    level = int(round(report["level"] * 100))
    table = Table(title=f"evaluation of {ckpt_path}")
    for column in (
        "env",
        "episodes",
        "return mean ± std",
        f"return {level}% CI",
        "success",
        f"success {level}% CI",
        "mean length",
        *(("unparsed replies", "parsed by") if parse else ()),
    ):
        table.add_column(column, justify="left" if column in ("env", "parsed by") else "right")
    for env, row in report["envs"].items():
        std = "" if row["std_return"] is None else f" ± {row['std_return']:.2f}"
        success = "–" if row["success_rate"] is None else f"{row['success_rate']:.3f}"
        length = "–" if row["mean_length"] is None else f"{row['mean_length']:.1f}"
        shares = (parse or {}).get(env, {})
        table.add_row(
            env,
            str(row["episodes"]),
            f"{row['mean_return']:.2f}{std}",
            interval(row["return_ci"], 2),
            success,
            interval(row["success_ci"], 3),
            length,
            *((f"{shares.get('none', 0.0):.3f}", parse_shares(shares)) if parse else ()),
        )
    agg = report["aggregate"]
    if agg["envs"] > 1:
        success = "–" if agg["success_rate"] is None else f"{agg['success_rate']:.3f}"
        table.add_row(
            "[bold]all (weighted by episodes)[/]",
            str(agg["episodes"]),
            f"{agg['weighted_mean_return']:.2f}",
            "",
            success,
            interval(agg["success_ci"], 3),
            "",
            *(("", "") if parse else ()),
        )
    if parse:
        table.caption = (
            "success counts only actions the model wrote: no parse fallback in evaluation; an unparsed "
            "reply reaches the world as written and counts as invalid"
        )
    return table


@app.command()
@guarded
def enjoy(
    target: Annotated[Path, typer.Argument(help="Run folder, session folder (s0) or checkpoint file.")],
    episodes: Annotated[int, typer.Option(min=1, help="Episodes to play.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Record to this .gif or .mp4 (required without a display).")] = None,
    ckpt: Annotated[str, typer.Option(help="Which checkpoint: best or last.")] = "best",
    fps: Annotated[int, typer.Option(min=1, help="Frames per second of the recording.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the first episode.")] = 0,
) -> None:
    """Watch a trained agent play (a window, or a gif/mp4 when there is no display). For a
    language-model run: readable transcripts of held-out episodes (printed, or written to --out)."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.run.enjoy import has_display, record_episodes
    from rldojo.run.load import load_agent, locate_checkpoint
    from rldojo.run.trial import read_run_spec

    setup_console()
    run_dir, ckpt_path = locate_checkpoint(target, ckpt)
    run_spec = read_run_spec(run_dir)
    if plays_episodes(run_spec.agent.algo):
        _enjoy_transcript(run_spec, ckpt_path, episodes, seed, out)
        return
    spec, agent, ckpt_path = load_agent(target, ckpt)
    if out is None and not has_display():
        out = ckpt_path.parent.parent / "enjoy.gif"
    returns, written = record_episodes(spec, agent, episodes, seed, out, fps)
    results().print(
        f"returns: {', '.join(f'{r:.1f}' for r in returns)}" + (f"; recorded to [bold]{written}[/]" if written else "")
    )


def _enjoy_transcript(spec, ckpt_path: Path, episodes: int, seed: int, out: Path | None) -> None:
    from rldojo.run.transcript import episode_transcripts

    if out is not None and out.suffix.lower() not in (".md", ".txt"):
        raise UserError(f"--out '{out}': a language-model run is shown as a transcript; give a .md or .txt file.")
    text = episode_transcripts(spec, ckpt_path, episodes, seed)
    if out is None:
        typer.echo(text)  # the transcript itself goes to stdout, so it can be piped or saved
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console().print(f"transcript of {episodes} episode(s) written to [bold]{out}[/]")


@app.command()
@guarded
def specs(
    topic: Annotated[
        str | None,
        typer.Argument(
            help="An algorithm (ppo, dqn, grpo, ...): only its specs, or with --fields only its agent "
            "section; with --fields also a section: env, agent, train, meta, track.",
            show_default=False,
            metavar="ALGO",
        ),
    ] = None,
    fields: Annotated[
        bool, typer.Option("--fields", help="Print the spec reference: every field, its type, limits and default.")
    ] = False,
) -> None:
    """List the shipped specs, one line each (or, with --fields, the spec reference)."""
    from rldojo.algos.registry import ALGOS
    from rldojo.run.spec import did_you_mean, load_spec, shipped_specs_dir

    if fields:
        from rldojo.run.reference import reference_text

        typer.echo(reference_text(topic), nl=False)  # plain text: it is read, grepped and saved
        return
    if topic is not None and topic not in ALGOS:
        raise UserError(
            f"'{topic}' is not an algorithm.{did_you_mean(topic, list(ALGOS))} Algorithms: {', '.join(ALGOS)}."
        )
    root = shipped_specs_dir()
    table = Table(title=f"shipped specs ({root})" + (f" with {topic}" if topic else ""))
    for column in ("spec", "env", "algo", "description"):
        table.add_column(column)
    for path in sorted(root.glob("**/*.yaml")):
        name = str(path.relative_to(root).with_suffix(""))
        try:
            spec = load_spec(str(path))
        except UserError as exc:
            if topic is None:
                table.add_row(name, "?", "?", f"[red]invalid: {escape(str(exc))}")
            continue
        stages = [stage.algo for stage in getattr(spec.agent, "stages", None) or []]
        if topic is None or topic == spec.agent.algo or topic in stages:
            table.add_row(name, spec.env.id, spec.agent.algo, escape(spec.description))
    results().print(table)


@app.command()
@guarded
def compare(
    paths: Annotated[list[Path], typer.Argument(help="eval.json files or run folders (two or more).")],
    baseline: Annotated[
        str | None, typer.Option(help="Model the deltas refer to: its folder/file name or path.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for compare.png/.md/.json (default: runs/compare_<time>).")
    ] = None,
    level: Annotated[float, typer.Option(help="Two-sided CI level; 0.8 = 10th to 90th percentile.")] = 0.8,
    epsilon: Annotated[float, typer.Option(help="Dominance margin in the metric's units.")] = 0.0,
    ci_aware: Annotated[
        bool, typer.Option("--ci-aware", help="Better means: lower bound above the other's upper bound.")
    ] = False,
    metric: Annotated[
        str, typer.Option(help="return (mean return) or success (success rate, Jeffreys CI).")
    ] = "return",
) -> None:
    """Compare models env by env: CIs, winners, dominance, Pareto frontier, PNG and markdown."""
    from rldojo.evaluate.compare import compare_command

    setup_console()
    raise typer.Exit(
        compare_command(
            paths,
            baseline=baseline,
            out=out,
            level=level,
            epsilon=epsilon,
            ci_aware=ci_aware,
            metric=metric,
            console=results(),
        )
    )


@app.command()
@guarded
def report(run_dir: Annotated[Path, typer.Argument(help="Run folder to summarise again.")]) -> None:
    """Rebuild trial.json, curve.png and report.md of a run from its sessions' results."""
    from rldojo.run.trial import aggregate_trial, read_run_spec

    spec = read_run_spec(run_dir)
    results = []
    for index in range(spec.meta.sessions):
        path = run_dir / f"s{index}" / "result.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
    if not results:
        raise UserError(f"run '{run_dir}' has no finished or interrupted session yet (no s*/result.json).")
    # The trial's wall time is known only to the run that trained it: keep it from trial.json.
    previous = run_dir / "trial.json"
    wall_s = json.loads(previous.read_text()).get("trial_wall_s") if previous.is_file() else None
    trial = aggregate_trial(spec, run_dir, results, wall_s=wall_s)
    _trial_summary(trial)


@app.command()
@guarded
def export(
    target: Annotated[Path, typer.Argument(help="Run folder, session folder (s0) or checkpoint file.")],
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="torchscript or onnx for tensor agents (default torchscript); hf for language-model runs (their default).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="File (folder for hf) to write; default: RUN/export/policy_s<i>_<ckpt>.pt|.onnx or model_s<i>_<ckpt>/."
        ),
    ] = None,
    ckpt: Annotated[str, typer.Option(help="Which checkpoint: best or last.")] = "best",
    session: Annotated[int | None, typer.Option(help="Session index (default: the best session).")] = None,
    adapter: Annotated[
        bool,
        typer.Option("--adapter", help="Language-model runs with LoRA: write the adapter alone, for the base model."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier export at --out.")] = False,
) -> None:
    """Write a trained agent as files that run without rldojo: the greedy policy as one TorchScript
    or ONNX file (observation encoding and normalisation inside), or a language model as a Hugging
    Face model folder (LoRA merged) or its LoRA adapter. Each policy file is checked against the
    checkpoint's greedy actions before it is kept."""
    from rldojo.run.export import export_run
    from rldojo.run.upload import human_size

    setup_console()
    result = export_run(target, format_, out, ckpt, session, adapter=adapter, force=force)
    meta = result.metadata
    frame = f", frame {meta['frame']:,}" if isinstance(meta.get("frame"), int) else ""
    console().print(
        f"exported {escape(str(result.checkpoint))} ({meta['algo']} on {meta['env']['id']}{frame}) as {result.kind}:"
    )
    if result.path.is_file():
        size, extra = result.path.stat().st_size, f", described in {result.path.name}.json"
    else:
        size, extra = sum(path.stat().st_size for path in result.files), f", {len(result.files)} files"
    console().print(f"  [bold]{escape(str(result.path))}[/] ({human_size(size)}{escape(extra)})", highlight=False)
    for line in result.lines:
        console().print(f"  {escape(line)}", highlight=False, soft_wrap=True)


def _upload_pack(target: Path, settings, include_optimizer: bool, yes: bool, private: bool) -> None:
    """Pack `target`, show what would go where, ask (unless `yes`), then send it."""
    from rldojo.run.upload import describe, packed, push

    with packed(target, include_optimizer) as pack:
        for line in describe(pack, settings):
            console().print(escape(line), highlight=False, soft_wrap=True)
        if not yes:
            try:
                go = typer.confirm(f"Upload these {pack.files} files?", default=False)
            except (typer.Abort, EOFError):
                raise UserError(
                    "nothing uploaded: there was no answer to the question (standard input is closed); "
                    "give --yes to upload without asking."
                ) from None
            if not go:
                console().print("nothing uploaded.")
                raise typer.Exit(1)
        url = push(pack, settings, private=private)
    console().print(f"uploaded: [bold]{escape(url)}[/]", highlight=False)


@app.command()
@guarded
def upload(
    target: Annotated[Path, typer.Argument(help="Run folder, or a folder of run folders (an experiment).")],
    repo: Annotated[
        str | None,
        typer.Option(help="Hugging Face dataset repo OWNER/NAME (default: $HF_DATASET_REPO); created if missing."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Upload without asking.")] = False,
    include_optimizer: Annotated[
        bool,
        typer.Option(
            "--include-optimizer",
            help="Keep the checkpoints' optimizer moments and replay buffers (needed only to --resume).",
        ),
    ] = False,
    private: Annotated[
        bool, typer.Option("--private", help="Create the repo private (an existing repo keeps its visibility).")
    ] = False,
) -> None:
    """Share a run (or an experiment) on a Hugging Face dataset repo, into a folder named after it.
    Shows the file count and size and asks first; the token is $HF_TOKEN. Checkpoints are copied
    without their optimizer states unless asked; the run itself is never changed."""
    from rldojo.run.upload import hub_settings

    setup_console()
    settings = hub_settings(repo)
    _upload_pack(target, settings, include_optimizer, yes, private)


env_app = typer.Typer(help="Text worlds as services: serve an env over HTTP.", no_args_is_help=True)
app.add_typer(env_app, name="env")


@env_app.command("serve")
@guarded
def env_serve(
    env_id: Annotated[str, typer.Argument(help="A registered text env id, e.g. dojo/WebShop-v0.")],
    port: Annotated[int, typer.Option(help="TCP port to listen on (0 picks a free one).")] = 36001,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    session_ttl: Annotated[float, typer.Option(help="Close sessions idle for this many seconds.")] = 600.0,
    max_sessions: Annotated[int, typer.Option(help="Most sessions open at once.")] = 256,
    trusted_expert: Annotated[
        bool,
        typer.Option(
            "--trusted-expert",
            help="Send the expert action (the task's answer) in info, for trusted local use; loopback hosts only.",
        ),
    ] = False,
    dialect: Annotated[
        str | None,
        typer.Option(
            help="AgentGym world whose client to answer: webshop, textcraft, babyai, alfworld, sciworld or "
            "rldojo (default: ENV_ID's world).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve ENV_ID with AgentGym's endpoints (/create /reset /step /observation /available_actions /close).

    Clients never see a task's answer; --trusted-expert passes the expert action for local use."""
    from rldojo.envs.server import serve

    setup_console()
    serve(
        env_id,
        host=host,
        port=port,
        session_ttl=session_ttl,
        max_sessions=max_sessions,
        expose_expert=trusted_expert,
        dialect=dialect,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
