"""rldojo's GRPO against TRL's GRPOTrainer (trl 1.16): seconds per optimisation step and
completion tokens per second, same model, prompts, reward and settings, in the same run.

Setting (both sides): rldojo's tiny model (the same weights and tokenizer, saved once to a temporary
folder and loaded by both), single-turn prompts (SAT formulas of 4-6 variables, as chat messages
without a system prompt), reward = distinct words in the completion / 16, group size 4, 8
completions per optimisation step (2 prompts x 4), max_completion_length 16, temperature 1, beta 0
(no reference model), loss `dapo`, one optimisation step per batch, AdamW, one torch thread. TRL
runs with gradient checkpointing off (its default is on, which only costs time at this size).
Each side runs `--runs` times: 2 warm-up steps, then `--steps` timed steps; the figure is the median
over runs of the mean step time. Completion tokens are those actually generated (a completion ends
at the end-of-turn token or at 16 tokens). Besides wall-clock time, each step's CPU time of the
process is measured the same way on both sides: on a shared machine other processes' load
stretches wall time but hardly CPU time, so the CPU-time ratio is the steadier comparison there
(the wall-clock one is the headline figure).

    python benchmarks/grpo_vs_trl.py               # 3 runs x 10 steps each side
    python benchmarks/grpo_vs_trl.py --short       # one-line prompts: generation dominates
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from rldojo.envs.reason.sat import SATEnv
from rldojo.envs.registry import register_dojo_env
from rldojo.envs.text.protocol import TextEnv, WorldStep

console = Console()
BENCH_ENV = "dojo/BenchPrompts-v0"
NUM_PROMPTS = 64
GROUP, BATCH, MAX_COMPLETION = 4, 8, 16


SHORT_PROMPTS = False
WORDS = ("apple", "river", "stone", "cloud", "maple", "tiger", "ember", "frost")


def prompts() -> list[str]:
    """SAT formulas (about 350 tokens each), or with --short one-line requests (about 10 tokens)."""
    if SHORT_PROMPTS:
        return [f"Write three words that rhyme with {WORDS[i % 8]} ({i})." for i in range(NUM_PROMPTS)]
    env = SATEnv(n_vars=(4, 6), k=(2, 3))
    return [env.reset(seed=i, options={"task_id": i})[0] for i in range(NUM_PROMPTS)]


def reward(text: str) -> float:
    return len(set(text.split())) / 16


class PromptEnv(TextEnv):
    """One turn: the prompt, the completion, the reward above."""

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=1, render_mode=render_mode)
        self.prompts = prompts()

    @property
    def num_tasks(self) -> int:
        return NUM_PROMPTS

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        return self.prompts[task_id], ""

    def _step_world(self, action: str) -> WorldStep:
        return WorldStep(observation="done", reward=reward(action), done=True)


def save_model(folder: Path) -> None:
    """The tiny model and a tokenizer trained on the prompts, saved as a Hugging Face folder."""
    from transformers import AutoTokenizer

    from rldojo.llm.chat import ChatFormat
    from rldojo.llm.config import TinyModelSettings
    from rldojo.llm.model import LanguageModel
    from rldojo.llm.tiny import tiny_model, tiny_tokenizer_dir

    settings = TinyModelSettings()
    tok_dir = tiny_tokenizer_dir(
        settings,
        f"bench-grpo-vs-trl-{SHORT_PROMPTS}",
        env_factory=lambda: gym.make(BENCH_ENV),
        accept_task=lambda t: True,
        extra_text=[],
        user_text=lambda obs, info: obs,
        reply_text=lambda a: a,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    model = tiny_model(settings, tokenizer, seed=0)
    LanguageModel(model, tokenizer, ChatFormat.for_tokenizer(tokenizer), 4096).export(folder)


def rldojo_run(folder: Path, steps: int, seed: int) -> tuple[float, float, float]:
    """(mean seconds per step, completion tokens per step, mean CPU seconds per step) over `steps`
    timed iterations."""
    from rldojo.run.agents import build_lm_agent, make_text_envs
    from rldojo.run.spec import spec_from_raw

    spec = spec_from_raw(
        {
            "name": "bench",
            "env": {"id": BENCH_ENV, "num_envs": BATCH},
            "agent": {
                "algo": "grpo",
                "model": {"path": str(folder), "max_model_len": 1024},
                "generation": {"max_new_tokens": MAX_COMPLETION, "temperature": 1.0},
                "prompt": {"template": "raw", "system": ""},
                "tasks": {"held_out": 0.01},
                "group_size": GROUP,
                "groups": BATCH // GROUP,
                "loss": "dapo",
                "beta": 0.0,
                "micro_batch_size": BATCH,
                "optim": {"lr": 1e-5},
            },
            "train": {"iterations": steps + 2},
            "meta": {"seed": seed},
        },
        [],
        source="benchmark",
    )
    envs = make_text_envs(spec, BATCH)
    agent = build_lm_agent(spec, seed, envs)
    trainer = agent.begin_stage(0)
    times, cpu, tokens = [], [], []
    iterator = trainer.steps()
    for i in range(steps + 2):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = next(iterator)
        if i >= 2:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            tokens.append(report.metrics["completion_tokens"])
    return float(np.mean(times)), float(np.mean(tokens)), float(np.mean(cpu))


def trl_run(folder: Path, steps: int, seed: int) -> tuple[float, float, float]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts()])
    lengths: list[float] = []
    step_times: list[float] = []
    step_cpu: list[float] = []

    def reward_fn(completions, **kwargs) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [reward(t) for t in texts]

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start, self.start_cpu = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            step_times.append(time.perf_counter() - self.start)
            step_cpu.append(time.process_time() - self.start_cpu)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out,
            use_cpu=True,
            bf16=False,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            max_steps=steps + 2,
            per_device_train_batch_size=BATCH,
            num_generations=GROUP,
            max_completion_length=MAX_COMPLETION,
            temperature=1.0,
            beta=0.0,
            loss_type="dapo",
            learning_rate=1e-5,
            gradient_checkpointing=False,
            seed=seed,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=reward_fn,
            args=config,
            train_dataset=data,
            processing_class=tokenizer,
            callbacks=[Timer()],
        )
        trainer.train()
    return float(np.mean(step_times[2:])), float(np.mean(lengths[2:])) * BATCH, float(np.mean(step_cpu[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--short", action="store_true", help="one-line prompts instead of SAT formulas")
    args = parser.parse_args()
    global SHORT_PROMPTS
    SHORT_PROMPTS = args.short
    from rldojo.track.log import setup_console

    setup_console(False)
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    register_dojo_env(BENCH_ENV, PromptEnv)
    import trl

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiny"
        save_model(folder)
        results: dict[str, list[tuple[float, float, float]]] = {"rldojo": [], f"trl {trl.__version__}": []}
        for run in range(args.runs):
            results["rldojo"].append(rldojo_run(folder, args.steps, seed=run))
            results[f"trl {trl.__version__}"].append(trl_run(folder, args.steps, seed=run))
    kind = "one-line prompts" if args.short else "SAT prompts"
    table = Table(
        title=f"GRPO step ({kind}): group {GROUP}, {BATCH} completions, "
        f"max_completion_length {MAX_COMPLETION}, "
        f"tiny model, 1 torch thread; median of {args.runs} runs x {args.steps} steps"
    )
    for column in (
        "trainer",
        "s / step",
        "CPU s / step",
        "completion tokens / step",
        "completion tokens / s",
        "per-run s / step",
    ):
        table.add_column(column, justify="right")
    rates, cpu_rates = {}, {}
    for name, runs in results.items():
        step = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        tokens = statistics.median(r[1] for r in runs)
        rates[name] = statistics.median(r[1] / r[0] for r in runs)
        cpu_rates[name] = statistics.median(r[1] / r[2] for r in runs)
        table.add_row(
            name,
            f"{step:.3f}",
            f"{cpu:.3f}",
            f"{tokens:.0f}",
            f"{rates[name]:,.0f}",
            ", ".join(f"{r[0]:.3f}" for r in runs),
        )
    console.print(table)
    names = list(rates)
    console.print(
        f"rldojo / TRL completion tokens/s: {rates[names[0]] / rates[names[1]]:.2f}x wall-clock, "
        f"{cpu_rates[names[0]] / cpu_rates[names[1]]:.2f}x per CPU second; load average "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
