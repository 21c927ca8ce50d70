"""RL after SFT, rldojo's GRPO against TRL's GRPOTrainer (trl 1.16) from the same SFT checkpoint.

The question: does GRPO improve a supervised model on held-out tasks, and does rldojo's GRPO do
what TRL's does? Setting: rldojo's tiny model on dojo/SAT-v0 (4-6 variables, 2-3 literals per
clause; single turn, so TRL's GRPOTrainer runs it directly with a reward function that calls the
env). One SFT checkpoint (rldojo's SFT on reference answers) is exported to a Hugging Face folder;
from it, for each seed, rldojo's GRPO and TRL's GRPOTrainer train with the same group size,
prompts per step, learning rate (constant, AdamW, no warm-up), clip range, beta, loss
aggregation (dapo), reward scaling (group std), temperature, top-k/top-p off and completion length,
for the same number of optimisation steps, on the same training tasks (the prompts are the env's
observations sent as one user message with no system prompt, which is what rldojo's `raw`
template with an empty system prompt gives). Both models are then scored by the same rldojo
held-out evaluation (greedy, no parse fallback; held-out tasks never trained on), with Jeffreys
80% intervals. The table gives the median over seeds and each seed's figure.

    python benchmarks/rl_after_sft.py                  # 3 seeds x 60 steps each side (~40 min on 2 cores)
    python benchmarks/rl_after_sft.py --quick          # a smoke run of the script
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

console = Console(width=170)
ENV_ID = "dojo/SAT-v0"
ENV_KWARGS = {"n_vars": [4, 6], "k": [2, 3]}


def base_spec(model_path: str, agent: dict, iterations: int | None, args: argparse.Namespace, seed: int):
    from rldojo.run.spec import spec_from_raw

    return spec_from_raw(
        {
            "name": "rl_after_sft",
            "env": {"id": ENV_ID, "num_envs": 16, "kwargs": ENV_KWARGS},
            "agent": {
                "model": {"path": model_path, "max_model_len": 512},
                "generation": {
                    "action_mode": "generate",
                    "temperature": args.temperature,
                    "eval_temperature": getattr(args, "eval_temperature", 0.0),
                    "max_new_tokens": args.max_new_tokens,
                },
                "prompt": {"template": "raw", "system": ""},
                "tasks": {"held_out": 0.1},
                **agent,
            },
            "train": {"iterations": iterations, "eval_episodes": args.eval_tasks},
            "meta": {"seed": seed},
        },
        [],
        source="benchmark",
    )


def build(spec, seed: int):
    from rldojo.run.agents import build_lm_agent, make_text_envs

    return build_lm_agent(spec, seed, make_text_envs(spec, spec.env.num_envs))


def held_out(folder: Path, args: argparse.Namespace, temperature: float = 0.0) -> dict:
    """Held-out success of the model in `folder` (rldojo's evaluation, no parse fallback): greedy,
    or sampled at `temperature` from a seeded generator."""
    from rldojo.evaluate.play import play_held_out, summarize
    from rldojo.run.agents import EVAL_SEED_OFFSET, held_out_starts

    spec = base_spec(
        str(folder), {"algo": "grpo"}, 1, argparse.Namespace(**{**vars(args), "eval_temperature": temperature}), 0
    )
    agent = build(spec, 0)
    starts = held_out_starts(spec, EVAL_SEED_OFFSET, args.eval_tasks)
    return summarize(play_held_out(agent, starts, EVAL_SEED_OFFSET))


def sft_checkpoint(folder: Path, args: argparse.Namespace) -> float:
    """rldojo's SFT of the tiny model on reference answers, exported to `folder`; seconds taken."""
    started = time.perf_counter()
    agent_cfg = {
        "algo": "sft",
        "demo_episodes": args.sft_episodes,
        "epochs": 3,
        "batch_size": 16,
        "optim": {"lr": 2.0e-3, "schedule": "cosine", "warmup": 0.05},
    }
    agent = build(base_spec("tiny", agent_cfg, None, args, 0), 0)
    trainer = agent.begin_stage(0)
    for _ in trainer.steps():
        pass
    trainer.finish()
    agent.lm.export(folder)
    return time.perf_counter() - started


def rldojo_grpo(sft: Path, out: Path, seed: int, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    agent_cfg = {
        "algo": "grpo",
        "group_size": args.group_size,
        "groups": args.prompts_per_step,
        "loss": "dapo",
        "scale_rewards": "group",
        "beta": args.beta,
        "epsilon": 0.2,
        "micro_batch_size": 16,
        "max_grad_norm": 1.0,
        "optim": {"name": "adamw", "lr": args.lr, "schedule": "constant", "eps": 1e-8, "weight_decay": 0.0},
    }
    agent = build(base_spec(str(sft), agent_cfg, args.steps, args, seed), seed)
    trainer = agent.begin_stage(0)
    for _ in trainer.steps():
        pass
    agent.lm.export(out)
    return time.perf_counter() - started


def train_prompts(args: argparse.Namespace, count: int) -> list[dict]:
    """The training tasks rldojo's GRPO draws (seed 0's stream), as TRL prompts with their task ids."""
    from rldojo.run.agents import task_stream

    spec = base_spec("tiny", {"algo": "grpo"}, 1, args, 0)
    stream = task_stream(spec, held_out=False, seed=0)
    env = stream.env
    rows = []
    try:
        for _ in range(count):
            start = stream.next()
            obs, _ = env.reset(seed=start.seed, options={"task_id": start.task_id})
            rows.append({"prompt": [{"role": "user", "content": obs}], "task_id": start.task_id})
    finally:
        env.close()
    return rows


def trl_grpo(sft: Path, out: Path, seed: int, args: argparse.Namespace) -> float:
    import gymnasium as gym
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(sft))
    model = AutoModelForCausalLM.from_pretrained(str(sft), dtype=torch.float32)
    data = Dataset.from_list(train_prompts(args, args.steps * args.prompts_per_step))
    env = gym.make(ENV_ID, **ENV_KWARGS).unwrapped

    def sat_reward(completions, task_id, **kwargs) -> list[float]:
        rewards = []
        for completion, task in zip(completions, task_id, strict=True):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            env.reset(seed=0, options={"task_id": int(task)})
            rewards.append(float(env.step(text)[1]))
        return rewards

    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(
            output_dir=tmp,
            use_cpu=True,
            bf16=False,
            report_to="none",
            save_strategy="no",
            logging_steps=10,
            max_steps=args.steps,
            per_device_train_batch_size=args.group_size * args.prompts_per_step,
            num_generations=args.group_size,
            max_completion_length=args.max_new_tokens,
            temperature=args.temperature,
            top_p=1.0,
            top_k=0,
            beta=args.beta,
            epsilon=0.2,
            loss_type="dapo",
            scale_rewards="group",
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            adam_epsilon=1e-8,
            max_grad_norm=1.0,
            gradient_checkpointing=False,
            seed=seed,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(
            model=model, reward_funcs=sat_reward, args=config, train_dataset=data, processing_class=tokenizer
        )
        trainer.train()
        trainer.save_model(str(out))
        tokenizer.save_pretrained(str(out))
    env.close()
    return time.perf_counter() - started


def fmt(summary: dict) -> str:
    return f"{summary['success']:.3f} [{summary['success_low']:.3f}, {summary['success_high']:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the script runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="optimisation steps of each GRPO run")
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sft-episodes", type=int, default=1000)
    parser.add_argument("--eval-tasks", type=int, default=200)
    parser.add_argument("--sides", nargs="+", default=["rldojo", "trl"], choices=["rldojo", "trl"])
    parser.add_argument("--sft-dir", type=Path, help="reuse (or keep) the SFT checkpoint in this folder")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.sft_episodes, args.eval_tasks, args.group_size = 1, 2, 32, 16, 4

    from rldojo.track.log import setup_quiet_child

    setup_quiet_child()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {side: [] for side in args.sides}
    seconds: dict[str, list[float]] = {side: [] for side in args.sides}
    sampled: dict[str, list[dict]] = {side: [] for side in args.sides}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sft = args.sft_dir or root / "sft"
        if not (sft / "config.json").is_file():
            console.log(f"SFT took {sft_checkpoint(sft, args):.0f} s")
        before, before_sampled = held_out(sft, args), held_out(sft, args, temperature=1.0)
        console.log(f"SFT: held-out success greedy {fmt(before)}, sampled at T=1 {fmt(before_sampled)}")
        runners = {"rldojo": rldojo_grpo, "trl": trl_grpo}
        for seed in range(args.seeds):
            for side in args.sides:  # in turn, so a slow spell of the machine lands on both
                out = root / f"{side}_{seed}"
                seconds[side].append(runners[side](sft, out, seed, args))
                results[side].append(held_out(out, args))
                sampled[side].append(held_out(out, args, temperature=1.0))
                console.log(
                    f"{side} seed {seed} ({seconds[side][-1]:.0f} s): greedy {fmt(results[side][-1])}, "
                    f"sampled {fmt(sampled[side][-1])}"
                )
    table = Table(
        title=f"GRPO after SFT on {ENV_ID} (tiny model): held-out success, {args.eval_tasks} tasks, "
        f"Jeffreys 80% intervals; {args.steps} steps x {args.prompts_per_step} prompts x {args.group_size}"
    )
    for column in ("", "evaluation", "SFT checkpoint", "after GRPO (median of seeds)", "each seed", "s per run"):
        table.add_column(column)
    for side in args.sides:
        for label, runs, start in (("greedy", results[side], before), ("sampled T=1", sampled[side], before_sampled)):
            median = sorted(runs, key=lambda r: r["success"])[len(runs) // 2]
            table.add_row(
                "rldojo GRPO" if side == "rldojo" else "TRL GRPOTrainer",
                label,
                fmt(start),
                fmt(median),
                ", ".join(f"{r['success']:.3f}" for r in runs),
                f"{statistics.median(seconds[side]):.0f}",
            )
    console.print(table)
    console.print(
        "evaluation: held-out tasks, parse fallback off (success counts the model's own answers only); "
        "greedy, and sampled at temperature 1 from a seeded generator"
    )
    console.print(
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
