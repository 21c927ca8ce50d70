"""Train a list of shipped specs (4 sessions each) and write the results table for the README.

For each spec: env x algorithm -> final return MA (mean over sessions, with the sessions' range
under 5 sessions, else a 95% bootstrap interval: `rldojo.run.aggregate.mean_ci`), the target from
the issue and whether it was met, the final greedy evaluation return, frames, training frames/s
per session, wall time and the load average while the spec ran. The table goes to stdout (rich)
and, as markdown with the date, machine and command, to --out.

Every row says what produced it, so a figure can be traced and reproduced:
- "revision": the git commit the code ran at (short hash, "+dirty" when the work tree had changes,
  untracked files included), read when the spec started;
- "spec sha256": the first 12 hex digits of the sha256 of the resolved spec
  (`rldojo.run.spec.spec_to_yaml`: after --set, every key written), the same text as the run
  folder's spec.yaml without its provenance;
- "torch threads": `meta.torch_threads` (per session; DQN's figures change with it, as with any
  change of floating-point summation order);
- "vector engine": the engine each session logged in its log.txt (`auto`'s pick included), or the
  spec's `env.vectorize` when no log says.

Two figures, the same for every spec:
- "final return MA" is the mean return of the last `train.return_window` (100) TRAINING episodes,
  played with the agent's exploration on (epsilon-greedy or Boltzmann for DQN, sampled actions
  for PPO/SAC).
  The target and the "met" column judge this figure. It lags: at CartPole's 500-step episodes,
  100 episodes are 50k frames, so an agent that solves the task half-way through a 50k budget
  cannot show an MA of 500 at the end.
- "final greedy eval" is the mean return of the session's last evaluation (`train.eval_episodes`
  episodes, greedy actions, separate eval seeds) at the end of the budget, the figure the RL Zoo
  reports; its mean and interval over sessions, as above.

    ./dojo bench benchmarks/classic_table.py --specs ppo_cartpole dqn_cartpole --out out/classic_table.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rldojo.run.aggregate import MIN_SESSIONS_FOR_INTERVAL, mean_ci
from rldojo.run.spec import Spec, load_spec, spec_to_yaml
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

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


REPO = Path(__file__).resolve().parents[1]


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
    """Mean and interval over sessions of each session's last greedy evaluation return."""
    return mean_ci([(s.get("last_eval") or {}).get("return_mean") for s in trial["sessions"]])


# ---- what produced a row ------------------------------------------------------------------------
def git_revision(root: Path = REPO) -> str:
    """Short hash of HEAD, with "+dirty" when the work tree differs from it (changed tracked files or
    untracked ones that git does not ignore); "unknown" outside a git checkout."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if changes else "")


def spec_hash(spec: Spec) -> str:
    """First 12 hex digits of the sha256 of the resolved spec's YAML."""
    return hashlib.sha256(spec_to_yaml(spec).encode()).hexdigest()[:12]


#: Vector env classes as the sessions log them (`session i seed s: ENV xN (CLASS), ...`) -> engine.
ENGINE_OF_CLASS = {
    "InProcessVectorEnv": "sync",
    "WorkerVectorEnv": "workers",
    "PoolVectorEnv": "pool",
    "RayVectorEnv": "ray",
    "AsyncVectorEnv": "async",
}
_SESSION_LINE = re.compile(r"session (\d+) seed \d+: \S+ x\d+ \((\w+)\)")
_AUTO_LINE = re.compile(r"make_vec auto: .* -> (in-process|(\d+) worker processes)")


def session_engine(log_text: str) -> str | None:
    """The engine a session's log.txt says it trained on ("sync", "workers", "workers x2" under auto's
    pick, ...); the last one logged (a resumed session logs again); None when the log names none."""
    engines = _SESSION_LINE.findall(log_text)
    if not engines:
        return None
    engine = ENGINE_OF_CLASS.get(engines[-1][1], engines[-1][1])
    picks = _AUTO_LINE.findall(log_text)
    if engine == "workers" and picks and picks[-1][1]:
        engine = f"workers x{picks[-1][1]}"
    return f"{engine} (auto)" if picks else engine


def engines_that_ran(spec: Spec, run_dir: Path) -> str:
    """The vector engine of every session, from their log.txt: one name when they agree, else each
    engine with its sessions; the spec's `env.vectorize` (marked "spec") when no log names one."""
    by_engine: dict[str, list[str]] = {}
    for index in range(spec.meta.sessions):
        log = run_dir / f"s{index}" / "log.txt"
        engine = session_engine(log.read_text(errors="replace")) if log.is_file() else None
        by_engine.setdefault(engine or f"{spec.env.vectorize} (spec)", []).append(f"s{index}")
    if len(by_engine) == 1:
        return next(iter(by_engine))
    return ", ".join(f"{engine}: {' '.join(sessions)}" for engine, sessions in by_engine.items())


def per_session(trial: dict, key: str = "final_return_ma") -> str:
    """`key` of each session, in session order, for the printed line."""
    values = [s.get(key) for s in sorted(trial["sessions"], key=lambda s: s.get("session", 0))]
    return ", ".join("—" if v is None else f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", nargs="+", default=DEFAULT_SPECS, help="shipped spec names or paths")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], help="--set overrides for every spec")
    parser.add_argument("--runs-dir", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--out", type=Path, default=Path("out/classic_table.md"))
    args = parser.parse_args()

    console = Console()
    command = ["benchmarks/classic_table.py", *sys.argv[1:]]
    runs_root = args.runs_dir or Path(tempfile.mkdtemp(prefix="classic_table_"))
    rows = []
    for name in args.specs:
        spec = load_spec(name, [f"meta.sessions={args.sessions}", *args.overrides])
        revision = git_revision()
        run_dir = new_run_dir(spec, runs_root)
        write_spec_file(run_dir, spec, command)
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
                revision,
                spec_hash(spec),
                str(spec.meta.torch_threads),
                engines_that_ran(spec, run_dir),
            )
        )
        console.print(
            f"{spec.name}: final return MA {fmt_ci(agg['final_return_ma'])} (per session: "
            f"{per_session(trial)}), final greedy eval {fmt_ci(final_eval(trial))}, load {load.summary()}, "
            f"revision {revision}, spec {spec_hash(spec)} ({run_dir})"
        )
        # after every spec: a long run keeps what it measured
        write_markdown(args.out, rows, args.sessions, command)

    table = Table(title="classic algorithm results")
    for column in header(args.sessions):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {args.out}")


def interval_label(sessions: int) -> str:
    """What the bracketed interval of a row is (`mean_ci`'s rule)."""
    if sessions < 2:
        return "mean of 1 session"
    if sessions < MIN_SESSIONS_FOR_INTERVAL:
        return f"mean [range of {sessions} sessions]"
    return f"mean [95% bootstrap interval], {sessions} sessions"


def header(sessions: int) -> tuple[str, ...]:
    return (
        "env",
        "spec",
        f"final return MA, last 100 training episodes ({interval_label(sessions)})",
        "target",
        "met",
        f"final greedy eval ({interval_label(sessions)})",
        "frames",
        "frames/s per session",
        "wall s",
        "load average during the run",
        "revision",
        "spec sha256",
        "torch threads",
        "vector engine",
    )


def write_markdown(out: Path, rows: list[tuple[str, ...]], sessions: int, command: list[str] | None = None) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    names = header(sessions)
    run = shlex.join(command or ["benchmarks/classic_table.py"])
    lines = [
        f"Measured {date.today().isoformat()} on {machine} (load average {load} at the last row) with "
        f'`{run}`. "final return MA": last 100 training episodes, exploration on '
        '(judged against the target); "final greedy eval": the last evaluation at the end of the budget, '
        'greedy actions. "revision": the git commit the row ran at ("+dirty": the work tree had changes); '
        '"spec sha256": the resolved spec (the run folder\'s spec.yaml without its provenance).',
        "",
        "| " + " | ".join(names) + " |",
        "|" + "---|" * len(names),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
