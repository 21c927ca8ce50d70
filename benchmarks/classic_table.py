"""Train a list of shipped specs (4 sessions each) and write the results table for the README.

For each spec: env x algorithm -> final return MA (mean and 95% CI over sessions), the target
from the issue and whether it was met, frames, training frames/s per session and wall time.
The table goes to stdout (rich) and, as markdown with the date and machine, to --out.

    ./dojo bench benchmarks/classic_table.py --specs ppo_cartpole dqn_cartpole --out out/classic_table.md
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rldojo.run.spec import load_spec
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

# Targets within the anchors' frame budgets (SLM-Lab's table, the SB3 RL Zoo), from issue 3.
TARGETS: dict[str, float] = {
    "ppo_cartpole": 400, "a2c_cartpole": 400, "dqn_cartpole": 400, "ddqn_per_cartpole": 400,
    "sac_cartpole": 400, "sarsa_cartpole": 400, "reinforce_cartpole": 300, "a2c_sil_cartpole": 400,
    "ppo_sil_cartpole": 400, "ppo_lunar": 200, "ddqn_per_lunar": 200, "sac_pendulum": -200,
}
DEFAULT_SPECS = ["ppo_cartpole", "a2c_cartpole", "dqn_cartpole", "ddqn_per_cartpole", "sac_cartpole",
                 "sarsa_cartpole", "reinforce_cartpole", "sac_pendulum"]


def fmt_ci(agg: dict) -> str:
    if agg["mean"] is None:
        return "—"
    if agg["ci_low"] is None:
        return f"{agg['mean']:.1f}"
    return f"{agg['mean']:.1f} [{agg['ci_low']:.1f}, {agg['ci_high']:.1f}]"


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
        trial = run_trial(spec, run_dir, show_progress=True)
        wall = time.perf_counter() - started
        agg = trial["aggregate"]
        target = TARGETS.get(spec.name)
        mean = agg["final_return_ma"]["mean"]
        met = "—" if target is None or mean is None else ("yes" if mean >= target else f"no ({mean:.0f} < {target})")
        rows.append((spec.env.id, spec.name, fmt_ci(agg["final_return_ma"]), "—" if target is None else str(target),
                     met, f"{spec.train.max_frames:,}", f"{agg['fps']['mean']:,.0f}", f"{wall:,.0f}"))
        console.print(f"{spec.name}: final return MA {fmt_ci(agg['final_return_ma'])} ({run_dir})")
        write_markdown(args.out, rows, args.sessions)  # after every spec: a long run keeps what it measured

    table = Table(title="classic algorithm results")
    for column in header(args.sessions):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {args.out}")


def header(sessions: int) -> tuple[str, ...]:
    return ("env", "spec", f"final return MA (mean [95% CI], {sessions} sessions)", "target", "met", "frames",
            "frames/s per session", "wall s")


def write_markdown(out: Path, rows: list[tuple[str, ...]], sessions: int) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    names = header(sessions)
    lines = [f"Measured {date.today().isoformat()} on {machine} (load average {load} at the last row) with "
             "`benchmarks/classic_table.py`.", "", "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
