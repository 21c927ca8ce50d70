"""Train a list of shipped specs (4 sessions each) and write the results table for the README.

For each spec: env x algorithm -> final return MA (mean and 95% CI over sessions), the target
from the issue and whether it was met, the final greedy evaluation return, frames, training
frames/s per session, wall time and the load average while the spec ran. The table goes to
stdout (rich) and, as markdown with the date and machine, to --out.

Two figures, the same for every spec:
- "final return MA" is the mean return of the last `train.return_window` (100) TRAINING episodes,
  played with the agent's exploration on (epsilon-greedy or Boltzmann for DQN, sampled actions
  for PPO/SAC).
  The target and the "met" column judge this figure. It lags: at CartPole's 500-step episodes,
  100 episodes are 50k frames, so an agent that solves the task half-way through a 50k budget
  cannot show an MA of 500 at the end.
- "final greedy eval" is the mean return of the session's last evaluation (`train.eval_episodes`
  episodes, greedy actions, separate eval seeds) at the end of the budget, the figure the RL Zoo
  reports; its mean and 95% CI over sessions.

    ./dojo bench benchmarks/classic_table.py --specs ppo_cartpole dqn_cartpole --out out/classic_table.md
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rldojo.run.spec import load_spec
from rldojo.run.trial import mean_ci, new_run_dir, run_trial, write_spec_file

# Targets within the anchors' frame budgets (SLM-Lab's table, the SB3 RL Zoo), from issue 3.
TARGETS: dict[str, float] = {
    "ppo_cartpole": 400,
    "a2c_cartpole": 400,
    "dqn_cartpole": 400,
    "ddqn_per_cartpole": 400,
    "sac_cartpole": 400,
    "sarsa_cartpole": 400,
    "reinforce_cartpole": 300,
    "a2c_sil_cartpole": 400,
    "ppo_sil_cartpole": 400,
    "ppo_lunar": 200,
    "ddqn_per_lunar": 200,
    "sac_pendulum": -200,
}
DEFAULT_SPECS = [
    "ppo_cartpole",
    "a2c_cartpole",
    "dqn_cartpole",
    "ddqn_per_cartpole",
    "sac_cartpole",
    "sarsa_cartpole",
    "reinforce_cartpole",
    "sac_pendulum",
]


def fmt_ci(agg: dict) -> str:
    if agg["mean"] is None:
        return "—"
    if agg["ci_low"] is None:
        return f"{agg['mean']:.1f}"
    return f"{agg['mean']:.1f} [{agg['ci_low']:.1f}, {agg['ci_high']:.1f}]"


class LoadSampler:
    """Samples the 1-minute load average every `period` seconds while a spec runs."""

    def __init__(self, period: float = 10.0) -> None:
        self.period, self.samples = period, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        return f"{min(self.samples):.1f}-{max(self.samples):.1f} (mean {sum(self.samples) / len(self.samples):.1f})"


def final_eval(trial: dict) -> dict:
    """Mean and 95% CI over sessions of each session's last greedy evaluation return."""
    return mean_ci([(s.get("last_eval") or {}).get("return_mean") for s in trial["sessions"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", nargs="+", default=DEFAULT_SPECS, help="shipped spec names or paths")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], help="--set overrides for every spec")
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--out", type=Path, default=Path("out/classic_table.md"))
    args = parser.parse_args()

    console = Console()
    runs_root = args.runs_dir or Path(tempfile.mkdtemp(prefix="classic_table_"))
    rows = []
    for name in args.specs:
        spec = load_spec(name, [f"meta.sessions={args.sessions}", *args.overrides])
        run_dir = new_run_dir(spec, runs_root)
        write_spec_file(run_dir, spec, ["benchmarks/classic_table.py"])
        started = time.perf_counter()
        with LoadSampler() as load:
            trial = run_trial(spec, run_dir, show_progress=True)
        wall = time.perf_counter() - started
        agg = trial["aggregate"]
        target = TARGETS.get(spec.name)
        mean = agg["final_return_ma"]["mean"]
        met = "—" if target is None or mean is None else ("yes" if mean >= target else f"no ({mean:.0f} < {target})")
        rows.append(
            (
                spec.env.id,
                spec.name,
                fmt_ci(agg["final_return_ma"]),
                "—" if target is None else str(target),
                met,
                fmt_ci(final_eval(trial)),
                f"{spec.train.max_frames:,}",
                f"{agg['fps']['mean']:,.0f}",
                f"{wall:,.0f}",
                load.summary(),
            )
        )
        console.print(
            f"{spec.name}: final return MA {fmt_ci(agg['final_return_ma'])}, final greedy eval "
            f"{fmt_ci(final_eval(trial))}, load {load.summary()} ({run_dir})"
        )
        write_markdown(args.out, rows, args.sessions)  # after every spec: a long run keeps what it measured

    table = Table(title="classic algorithm results")
    for column in header(args.sessions):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {args.out}")


def header(sessions: int) -> tuple[str, ...]:
    return (
        "env",
        "spec",
        f"final return MA, last 100 training episodes (mean [95% CI], {sessions} sessions)",
        "target",
        "met",
        "final greedy eval (mean [95% CI])",
        "frames",
        "frames/s per session",
        "wall s",
        "load average during the run",
    )


def write_markdown(out: Path, rows: list[tuple[str, ...]], sessions: int) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    names = header(sessions)
    lines = [
        f"Measured {date.today().isoformat()} on {machine} (load average {load} at the last row) with "
        '`benchmarks/classic_table.py`. "final return MA": last 100 training episodes, exploration on '
        '(judged against the target); "final greedy eval": the last evaluation at the end of the budget, '
        "greedy actions.",
        "",
        "| " + " | ".join(names) + " |",
        "|" + "---|" * len(names),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
