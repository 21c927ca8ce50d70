"""Reasoning tasks and the sandbox, measured.

1. Sandbox throughput: a trivial program run many times on 2 workers, through rldojo's sandbox
   (each isolation this machine has) and through a bare `subprocess.run` of the same interpreter
   (the anchor: no isolation at all), in the same run; medians of several repeats.
2. SAT verification: assignments checked per second for n=20, k=3 (ratio 4.2), batched with
   numpy and one at a time as the env does, against a plain-Python loop.
3. Reference answers: every shipped task answered with its `info["expert_action"]` through the
   env's own grading (sandbox and all); the success rate must be 100%.

    ./dojo bench benchmarks/reasoning.py            # everything (about two minutes)
    ./dojo bench benchmarks/reasoning.py --quick    # fewer runs, a sample of the tasks
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from rich.console import Console
from rich.table import Table

from rldojo.envs.reason.abduction import AbductionEnv
from rldojo.envs.reason.answers import parse_assignment
from rldojo.envs.reason.deduction import DeductionEnv
from rldojo.envs.reason.sat import SATEnv, format_assignment, planted_formula
from rldojo.sandbox import SandboxConfig, SandboxPool, choose_backend

TRIVIAL = "print(sum(range(10)))\n"
WORKERS = 2
console = Console()


def sandbox_rate(isolation: str, runs: int) -> tuple[float, str]:
    config = SandboxConfig(isolation=isolation)
    with SandboxPool(workers=WORKERS, config=config) as pool:
        pool.map([(TRIVIAL, "")] * WORKERS)  # warm-up: backend probe, caches
        start = time.perf_counter()
        results = pool.map([(TRIVIAL, "")] * runs)
        elapsed = time.perf_counter() - start
    assert all(r.ok and r.stdout == "45\n" for r in results)
    return runs / elapsed, str(results[0].isolation)


def bare_rate(python: str, runs: int) -> float:
    def one(_: int) -> None:
        done = subprocess.run([python, "-I", "-c", TRIVIAL], capture_output=True, env={}, check=True)
        assert done.stdout == b"45\n"

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, range(WORKERS)))
        start = time.perf_counter()
        list(pool.map(one, range(runs)))
        return runs / (time.perf_counter() - start)


def bench_sandbox(runs: int, repeats: int) -> None:
    python = choose_backend(SandboxConfig()).interpreter.path
    rows: dict[str, list[float]] = {"bare subprocess.run (anchor)": []}
    names: dict[str, str] = {}
    for isolation in ("bubblewrap", "rlimits"):
        try:
            choose_backend(SandboxConfig(isolation=isolation))
        except Exception as exc:  # noqa: BLE001 - report, do not fail, where bwrap is missing
            console.print(f"[yellow]{isolation}: unavailable ({exc})")
            continue
        rows[f"sandbox, {isolation}"] = []
    for _ in range(repeats):  # interleaved so machine noise hits every row alike
        rows["bare subprocess.run (anchor)"].append(bare_rate(python, runs))
        for label in list(rows)[1:]:
            rate, isolation = sandbox_rate(label.split(", ")[1], runs)
            rows[label].append(rate)
            names[label] = isolation
    anchor = statistics.median(rows["bare subprocess.run (anchor)"])
    table = Table(title=f"Trivial program, {WORKERS} workers, {runs} runs x {repeats} repeats (median)")
    for column in ("runner", "runs/s", "ms per run per worker", "overhead vs bare", "isolation"):
        table.add_column(column)
    for label, rates in rows.items():
        rate = statistics.median(rates)
        overhead = f"{(1 / rate - 1 / anchor) * WORKERS * 1000:+.1f} ms ({anchor / rate:.2f}x)"
        table.add_row(
            label,
            f"{rate:.1f}",
            f"{WORKERS * 1000 / rate:.1f}",
            "-" if label.startswith("bare") else overhead,
            names.get(label, "none"),
        )
    console.print(table)


def bench_sat(batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    formula, hidden = planted_formula(rng, num_vars=20, k=3, num_clauses=84)
    assignments = rng.random((batch, 20)) < 0.5
    assignments[0] = hidden

    def batched() -> float:
        start = time.perf_counter()
        ok = formula.satisfies(assignments)
        elapsed = time.perf_counter() - start
        assert ok[0]
        return batch / elapsed

    singles = list(assignments[:20000, None, :])

    def numpy_single() -> float:  # one (1, n) array per call: numpy's per-call overhead
        start = time.perf_counter()
        for a in singles:
            formula.satisfies(a)
        return len(singles) / (time.perf_counter() - start)

    replies = [format_assignment(a) for a in assignments[:2000]]

    def one_at_a_time() -> float:  # what SATEnv.step does: parse the reply, check one assignment
        start = time.perf_counter()
        for reply in replies:
            values, _ = parse_assignment(reply, 20)
            formula.satisfied_clauses(values[None, :])[0].all()
        return len(replies) / (time.perf_counter() - start)

    clauses = list(zip(formula.variables.tolist(), formula.negated.tolist()))
    plain = [a.tolist() for a in assignments[:20000]]

    def python_loop() -> float:
        start = time.perf_counter()
        for a in plain:
            all(any(a[v] != n for v, n in zip(vs, ns)) for vs, ns in clauses)
        return len(plain) / (time.perf_counter() - start)

    table = Table(title=f"SAT verification, n=20, k=3, 84 clauses (median of {repeats})")
    table.add_column("method")
    table.add_column("assignments/s")
    for label, fn in (
        (f"numpy, batch of {batch:,}", batched),
        ("numpy, one assignment per call", numpy_single),
        ("env path: parse the reply text + numpy check", one_at_a_time),
        ("plain Python loop (reference)", python_loop),
    ):
        table.add_row(label, f"{statistics.median(fn() for _ in range(repeats)):,.0f}")
    console.print(table)


def _answer_all(env_factory, task_ids: list[int]) -> tuple[int, list[int]]:
    env = env_factory()
    failures = []
    for task_id in task_ids:
        _, info = env.reset(options={"task_id": task_id})
        _, reward, *_ = env.step(info["expert_action"])
        if reward != 1.0:
            failures.append(task_id)
    env.close()
    return len(task_ids), failures


def bench_references(sample: int | None) -> bool:
    table = Table(title="Reference answers (info['expert_action']) graded by the envs")
    for column in ("env", "tasks", "won", "success", "seconds"):
        table.add_column(column)
    all_won = True
    for name, factory, parallel in (
        ("dojo/SAT-v0 (task ids 0-999)", SATEnv, 1),
        ("dojo/Abduction-v0", AbductionEnv, WORKERS),
        ("dojo/Deduction-v0", lambda: DeductionEnv(test_workers=WORKERS), 1),
    ):
        count = 1000 if "SAT" in name else factory().num_tasks
        ids = list(range(count))
        if sample is not None:
            ids = ids[:: max(1, count // sample)]
        start = time.perf_counter()
        chunks = [ids[i::parallel] for i in range(parallel)]
        with ThreadPoolExecutor(parallel) as pool:
            outcomes = list(pool.map(lambda chunk, factory=factory: _answer_all(factory, chunk), chunks))
        seconds = time.perf_counter() - start
        failures = [t for _, f in outcomes for t in f]
        won = len(ids) - len(failures)
        all_won &= not failures
        table.add_row(name, str(len(ids)), str(won), f"{100 * won / len(ids):.1f}%", f"{seconds:.1f}")
        if failures:
            console.print(f"[red]{name}: reference answers failed on task ids {failures[:20]}")
    console.print(table)
    return all_won


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="sandbox runs per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="50 runs and a sample of 30 tasks per env")
    args = parser.parse_args()
    runs = 50 if args.quick else args.runs
    bench_sandbox(runs, args.repeats)
    bench_sat(batch=100_000, repeats=5)
    ok = bench_references(sample=30 if args.quick else None)
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
