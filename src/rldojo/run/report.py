"""report.md of a run: the sessions, the aggregate over them, and for language models the table of
held-out evaluations per training stage (base -> SFT -> GRPO)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rldojo.run.aggregate import MIN_SESSIONS_FOR_INTERVAL, describe_interval
from rldojo.run.spec import Spec
from rldojo.run.videos import video_links


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _fmt_ci(agg: dict[str, Any], digits: int = 1) -> str:
    if agg["mean"] is None:
        return "—"
    if agg["ci_low"] is None:
        return f"{_fmt(agg['mean'], digits)} (n=1, no interval)"
    return (
        f"{_fmt(agg['mean'], digits)} [{_fmt(agg['ci_low'], digits)}, {_fmt(agg['ci_high'], digits)}] "
        f"({describe_interval(agg)})"
    )


def render_report(spec: Spec, run_dir: Path, trial: dict[str, Any]) -> str:
    agg = trial["aggregate"]
    lines = [
        f"# {spec.name}: {spec.agent.algo} on {spec.env.id}",
        "",
        f"{spec.description}" if spec.description else "",
        "",
        f"Status: **{trial['status']}** · sessions: {len(trial['sessions'])} · {_budget(spec)} · "
        f"envs: {spec.env.num_envs}",
        "",
        "| session | seed | frames | final return MA | best return MA | best eval return | success MA | fps | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in trial["sessions"]:
        lines.append(
            f"| {r['session']} | {r['seed']} | {r['frames']:,} | {_fmt(r['final_return_ma'])} | "
            f"{_fmt(r['best_return_ma'])} | {_fmt(r['best_eval_return'])} | {_fmt(r['success_ma'], 2)} | "
            f"{_fmt(r['fps'], 0)} | {_fmt(r['wall_s'])} |"
        )
    lines += [
        "",
        f"Across sessions (mean [interval]; under {MIN_SESSIONS_FOR_INTERVAL} sessions the interval is their "
        "range, from 5 on the bootstrap interval of the mean):",
        "",
        f"- final return MA (last {spec.train.return_window} episodes): {_fmt_ci(agg['final_return_ma'])}",
        f"- best return MA: {_fmt_ci(agg['best_return_ma'])}",
        f"- best eval return: {_fmt_ci(agg['best_eval_return'])}",
        f"- success MA: {_fmt_ci(agg['success_ma'], 2)}",
        f"- training frames/s per session: {_fmt_ci(agg['fps'], 0)}",
        f"- trial wall time: {_fmt(trial['trial_wall_s'])} s",
        "",
        "![learning curve](curve.png)",
        "",
        *_video_lines(run_dir, trial),
        f"Reproduce: `rldojo train {run_dir / 'spec.yaml'}` · resume: `rldojo train --resume {run_dir}`",
        "",
    ]
    stages = stage_report_section(trial)
    if stages:
        lines += ["## Held-out evaluation per stage", "", stages]
    return "\n".join(lines)


def _video_lines(run_dir: Path, trial: dict[str, Any]) -> list[str]:
    """Links to the evaluation episodes each session filmed (track.video_every)."""
    lines: list[str] = []
    for r in trial["sessions"]:
        videos = video_links(run_dir / f"s{r['session']}")
        if videos:
            links = " · ".join(f"[frame {frame:,}]({path.relative_to(run_dir).as_posix()})" for frame, path in videos)
            lines.append(f"- session {r['session']}: {links}")
    if not lines:
        return []
    first = video_links(run_dir / f"s{trial['sessions'][0]['session']}")
    shown: list[str] = []
    if first and first[-1][1].suffix == ".gif":  # a gif shows inline; an mp4 opens from its link
        shown = [f"![last evaluation episode]({first[-1][1].relative_to(run_dir).as_posix()})", ""]
    return ["## Videos of evaluation episodes", "", *lines, "", *shown]


def stage_table_markdown(stage_evals: list[dict[str, Any]], env_id: str) -> str:
    """The table base -> SFT -> GRPO of one session's held-out evaluations."""
    if not stage_evals:
        return ""
    level = int(round(100 * stage_evals[0].get("level", 0.8)))
    lines = [
        f"Held-out evaluation on {env_id} ({stage_evals[0]['episodes']} episodes per row; success with its "
        f"Jeffreys {level}% interval). Success counts only actions the model wrote: evaluation plays "
        "without the parse fallback, so a reply the parser cannot match (unparsed) reaches the world "
        "as written and counts as invalid.",
        "",
        "| stage | success | interval | mean reward | mean turns | invalid actions | unparsed replies "
        "| parsed by | stage wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in stage_evals:
        lines.append(_stage_row(row["stage"], row, f"{row['wall_s']:.1f}"))
        for world, part in (row.get("worlds") or {}).items():  # a mixture: each world under its stage
            lines.append(_stage_row(f"{row['stage']} · {world} ({part['episodes']})", part, ""))
    return "\n".join(lines) + "\n"


def _stage_row(name: str, row: dict[str, Any], wall: str) -> str:
    unparsed = row.get("unparsed_rate")
    return (
        f"| {name} | {row['success']:.3f} | [{row['success_low']:.3f}, {row['success_high']:.3f}] "
        f"| {row['return_mean']:.3f} | {row['length_mean']:.2f} | {row['invalid_rate']:.3f} "
        f"| {'—' if unparsed is None else f'{unparsed:.3f}'} | {parse_shares(row.get('parse'))} | {wall} |"
    )


def parse_shares(shares: dict[str, float] | None) -> str:
    """`marker 0.80, fuzzy 0.15, none 0.05`: how the model's replies became actions, largest first."""
    if not shares:
        return "—"
    return ", ".join(f"{name} {share:.2f}" for name, share in sorted(shares.items(), key=lambda kv: -kv[1]))


def stage_report_section(trial: dict[str, Any]) -> str:
    """Markdown for a trial's report.md: each session's stage table (empty for tensor agents)."""
    parts = []
    for result in trial.get("sessions", []):
        stages = result.get("stages")
        if stages:
            parts.append(
                f"### Stages of session {result['session']} (seed {result['seed']})\n\n"
                + stage_table_markdown(stages, trial.get("env", ""))
            )
    return "\n".join(parts)


def _budget(spec: Spec) -> str:
    """What ends training: the frame budget, or for language-model RL stages their iterations."""
    if spec.train.iterations is not None:
        return f"iterations per RL stage: {spec.train.iterations:,} (frame cap {spec.train.max_frames:,})"
    return f"frame budget: {spec.train.max_frames:,}"
