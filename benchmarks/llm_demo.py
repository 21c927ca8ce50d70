"""The learning demo: base -> SFT -> GRPO with the tiny model on held-out tasks, on this machine.

Runs the shipped pipeline specs (or the ones named) as `rldojo train` would, one after the other,
and prints one table: per world and stage, held-out success with its Jeffreys 80% interval, mean
reward, mean turns and the stage's wall time. Each run folder keeps its own report.

    python benchmarks/llm_demo.py                                   # the three shipped demos
    python benchmarks/llm_demo.py llm/sat_sft_grpo --set train.iterations=10
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rldojo.run.spec import load_spec
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file
from rldojo.track.log import setup_console

DEMOS = ("llm/textcraft_sft_grpo", "llm/babyai_sft_grpo", "llm/sat_sft_grpo")
console = Console()


def _verdict(stages: list[dict]) -> str:
    """Whether the last RL stage's 80% interval lies wholly above (or below) the SFT stage's."""
    by_name = {row["stage"]: row for row in stages}
    sft, grpo = by_name.get("sft"), by_name.get("grpo")
    if sft is None or grpo is None:
        return "no SFT -> GRPO pair"
    change = f"GRPO {grpo['success']:.3f} vs SFT {sft['success']:.3f}"
    if grpo["success_low"] > sft["success_high"]:
        return f"{change}: GRPO gains, the 80% intervals do not overlap"
    if grpo["success_high"] < sft["success_low"]:
        return f"{change}: GRPO loses, the 80% intervals do not overlap"
    return f"{change}: the 80% intervals overlap (no clear change)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=list(DEMOS))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted.path=value")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    setup_console(False)
    table = Table(title="base -> SFT -> GRPO on held-out tasks (tiny model, CPU)")
    for column in (
        "world",
        "stage",
        "success",
        "Jeffreys 80%",
        "mean reward",
        "mean turns",
        "stage wall s",
        "load avg (1 min), start -> end",
    ):
        table.add_column(column, justify="right")
    markdown = [
        "| world | stage | success | Jeffreys 80% | mean reward | mean turns | stage wall s | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    verdicts: list[str] = []
    for ref in args.specs:
        spec = load_spec(ref, args.overrides)
        run_dir = new_run_dir(spec, args.runs_dir)
        write_spec_file(run_dir, spec, ["benchmarks/llm_demo.py", ref, *args.overrides])
        load_start = os.getloadavg()[0]
        started = time.perf_counter()
        trial = run_trial(spec, run_dir, show_progress=False)
        wall = time.perf_counter() - started
        load = f"{load_start:.2f} -> {os.getloadavg()[0]:.2f}"
        for session in trial["sessions"]:
            for row in session.get("stages", []):
                cells = (
                    spec.env.id,
                    row["stage"],
                    f"{row['success']:.3f}",
                    f"[{row['success_low']:.3f}, {row['success_high']:.3f}]",
                    f"{row['return_mean']:.3f}",
                    f"{row['length_mean']:.2f}",
                    f"{row['wall_s']:.0f}",
                    load,
                )
                table.add_row(*cells)
                markdown.append("| " + " | ".join(cells) + " |")
            verdicts.append(f"{spec.env.id}: {_verdict(session.get('stages', []))}")
        table.add_section()
        console.print(f"{ref}: {wall:.0f} s in all, run folder {run_dir}")
    console.print(table)
    console.print("\n".join(markdown), markup=False, highlight=False, soft_wrap=True)
    for line in verdicts:
        console.print(line, markup=False, highlight=False)
    console.print(f"load average: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
