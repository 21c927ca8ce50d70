"""The GPU check: one run of a few minutes that shows rldojo working, and how fast, on a CUDA GPU.

Nothing is downloaded. A Qwen2 model of Qwen2.5-0.5B's shape (494M parameters: 24 layers, width
896, 14 query and 2 key/value heads, a 151,936-token embedding tied to the output) is built with
random weights on the GPU, with a tokenizer trained on SAT prompts (1,024 tokens; the model's other
ids decode to nothing), and saved to a temporary folder that the language-model checks load as
`model.path`. In one run:

- classic agents, cuda vs cpu: PPO on CartPole-v1 (8 envs) and SAC on HalfCheetah-v5, a few
  thousand frames each through `rldojo.train` (frames/s as trial.json reports them);
- the lean forward (rldojo.llm.fastllama) against transformers' forward on the same batch in
  float32 (largest logit difference; it must be below 1e-3 of the largest logit);
- generation in bfloat16, greedy, every row writing the same number of tokens: rldojo's backend
  with the lean forward, rldojo's backend with transformers' forward, and transformers' `generate`
  (new tokens/s);
- SFT and GRPO steps of the model in bfloat16 with LoRA (r 24, alpha 48, all linear layers) on SAT
  tasks (tokens/s, s per step, peak GPU memory from torch.cuda.max_memory_allocated);
- TRL's GRPOTrainer on the same model, LoRA, group size, batch, completion length, temperature and
  beta, where trl is installed (skipped with a note otherwise). Its reward is the reply's distinct
  words / 16 (TRL has no env); rldojo's is SAT's own. Both do the full work whatever the rewards:
  beta 0.02 keeps a KL term in every token's loss.

Timed steps exclude the first (warm-up: kernel selection, allocator growth). It prints one table
and exits with 1 if any check failed (2 if a GPU was asked for and there is none).

    python benchmarks/gpu_check.py                         # on a CUDA machine, a few minutes
    python benchmarks/gpu_check.py --device cpu --small    # smoke test on a CPU (tiny model, ~1 minute)

benchmarks/gpu_check.sh installs rldojo from a folder of wheels on a bare GPU machine and runs this.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

for _key, _value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MUJOCO_GL": "egl"}.items():
    os.environ.setdefault(_key, _value)

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

# Wide when written to a file or a pipe (the table is meant to be pasted whole).
console = Console(width=None if sys.stdout.isatty() else 200)

#: Qwen2.5-0.5B's shape (its config.json), with random weights.
QWEN25_05B = dict(
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    vocab_size=151936,
    max_position_embeddings=32768,
    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
    use_sliding_window=False,
)
#: The same architecture, tiny, for the CPU smoke test (a small vocabulary too: TRL materialises
#: float32 logits over the whole vocabulary for every token).
TINY_QWEN2 = dict(
    QWEN25_05B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=2048
)
LORA = {"r": 24, "alpha": 48, "dropout": 0.05, "target_modules": "all-linear"}
SAT_KWARGS = {"n_vars": [8, 12], "k": 3}


@dataclass(frozen=True)
class Sizes:
    """How much each check runs."""

    ppo_frames: int
    sac_frames: int
    sac_learning_starts: int
    model_shape: dict
    tokenizer_episodes: int
    gen_prompts: int
    gen_tokens: int
    sft_demos: int
    sft_batch: int
    grpo_group: int
    grpo_groups: int
    grpo_tokens: int
    steps: int
    """Timed SFT / GRPO / TRL steps (after one warm-up step)."""


FULL = Sizes(
    ppo_frames=16384,
    sac_frames=3000,
    sac_learning_starts=1000,
    model_shape=QWEN25_05B,
    tokenizer_episodes=200,
    gen_prompts=32,
    gen_tokens=256,
    sft_demos=120,
    sft_batch=16,
    grpo_group=6,
    grpo_groups=4,
    grpo_tokens=256,
    steps=3,
)
SMALL = Sizes(
    ppo_frames=2048,
    sac_frames=400,
    sac_learning_starts=200,
    model_shape=TINY_QWEN2,
    tokenizer_episodes=30,
    gen_prompts=4,
    gen_tokens=16,
    sft_demos=24,
    sft_batch=4,
    grpo_group=2,
    grpo_groups=2,
    grpo_tokens=16,
    steps=2,
)


@dataclass
class Row:
    check: str
    device: str
    figure: str
    value: str
    note: str = ""
    status: str = "ok"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def run(self, check: str, device: str, fn: Callable[[], list[Row]]) -> None:
        """Run one check; an exception becomes a FAIL row (its traceback goes to stderr)."""
        console.print(f"[bold]{check}[/] on {device} ...")
        try:
            self.rows += fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported in the table, then the exit code
            traceback.print_exc()
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.rows.append(Row(check, device, "-", "-", f"{type(exc).__name__}: {message}"[:160], "FAIL"))
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    @property
    def failed(self) -> bool:
        return any(row.status == "FAIL" for row in self.rows)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@contextlib.contextmanager
def peak_memory(device: str) -> Iterator[dict]:
    """{'gib': peak GPU memory allocated inside the block} (nan on the CPU)."""
    out = {"gib": float("nan")}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    yield out
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        out["gib"] = torch.cuda.max_memory_allocated() / 2**30


def gib(value: float) -> str:
    return "n/a (cpu)" if value != value else f"{value:.2f} GiB"


# ---- classic agents -----------------------------------------------------------------------------
def classic_spec(algo: str, sizes: Sizes) -> dict:
    """PPO CartPole as specs/classic/ppo_cartpole, SAC HalfCheetah as specs/classic/sac_halfcheetah;
    a short budget, no evaluation, checkpoints or plots."""
    quiet = {"tensorboard": False, "plots": False}
    if algo == "ppo":
        return {
            "name": "gpu_check_ppo_cartpole",
            "env": {"id": "CartPole-v1", "num_envs": 8, "vectorize": "sync"},
            "agent": {
                "algo": "ppo",
                "gamma": 0.98,
                "gae_lambda": 0.8,
                "epochs": 20,
                "rollout_steps": 32,
                "minibatch_size": 256,
                "net": {"type": "mlp", "hidden": [64, 64], "activation": "tanh"},
                "optim": {"name": "adam", "lr": 1.0e-3},
            },
            "train": {"max_frames": sizes.ppo_frames, "eval_every": 0, "checkpoint_every": 0},
            "track": quiet,
        }
    return {
        "name": "gpu_check_sac_halfcheetah",
        "env": {"id": "HalfCheetah-v5", "num_envs": 1, "vectorize": "sync"},
        "agent": {
            "algo": "sac",
            "buffer_size": 100000,
            "batch_size": 256,
            "learning_starts": sizes.sac_learning_starts,
            "actor_net": {"type": "mlp", "hidden": [256, 256], "activation": "relu"},
            "critic_net": {"type": "mlp", "hidden": [256, 256], "activation": "relu"},
            "optim": {"name": "adam", "lr": 3.0e-4},
        },
        "train": {"max_frames": sizes.sac_frames, "eval_every": 0, "checkpoint_every": 0},
        "track": quiet,
    }


def classic(algo: str, device: str, sizes: Sizes, out: Path) -> list[Row]:
    import rldojo

    label = {"ppo": "PPO CartPole-v1 (8 envs)", "sac": "SAC HalfCheetah-v5"}[algo]
    if algo == "sac":
        import importlib.util

        if importlib.util.find_spec("mujoco") is None:
            return [
                Row(label, device, "frames/s", "-", "mujoco not installed: pip install 'rldojo[mujoco]'", "skipped")
            ]
    spec = classic_spec(algo, sizes)
    run = rldojo.train(spec, overrides=[f"meta.device={device}", "meta.sessions=1", "meta.seed=0"], out=str(out))
    if run.status != "done":
        raise RuntimeError(f"the run ended {run.status}")
    session = run.trial["sessions"][0]
    note = f"{session['frames']:,} frames in {session['wall_s']:.1f} s"
    if algo == "sac":
        note += f" ({session['frames'] - sizes.sac_learning_starts:,} gradient steps)"
    return [Row(label, device, "frames/s", f"{session['fps']:,.0f}", note)]


# ---- the language model -------------------------------------------------------------------------
@dataclass
class LM:
    model: torch.nn.Module | None
    """The model in memory (None once the generation checks are done: the trainers load the folder)."""
    tokenizer: object
    chat: object
    folder: Path
    prompts: list[list[int]]
    label: str


def build_lm(sizes: Sizes, device: str, folder: Path) -> LM:
    """The random Qwen2 model in bfloat16 on `device`, its SAT tokenizer and prompts, saved to `folder`."""
    import gymnasium as gym
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from rldojo.llm.chat import ChatFormat
    from rldojo.llm.config import TinyModelSettings
    from rldojo.llm.model import LanguageModel
    from rldojo.llm.prompts import make_template
    from rldojo.llm.tiny import tiny_tokenizer_dir

    template = make_template("raw", None, True, single_turn=True)
    settings = TinyModelSettings(
        vocab_size=1024, corpus_episodes=sizes.tokenizer_episodes, max_position_embeddings=8192
    )
    tok_dir = tiny_tokenizer_dir(
        settings,
        f"gpu-check-sat-{sizes.tokenizer_episodes}",
        env_factory=lambda: gym.make("dojo/SAT-v0", **SAT_KWARGS),
        accept_task=lambda task: True,
        extra_text=[template.system],
        user_text=lambda obs, info: template.user_message(obs, info.get("available_actions", [])),
        reply_text=template.write_action,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    config = Qwen2Config(
        **sizes.model_shape,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it lives: seconds, not a minute on the host
        model = Qwen2ForCausalLM(config)
    model = model.to(torch.bfloat16).eval()
    chat = ChatFormat.for_tokenizer(tokenizer)
    LanguageModel(model, tokenizer, chat, 8192).export(folder)
    env = gym.make("dojo/SAT-v0", **SAT_KWARGS)
    prompts = []
    for seed in range(sizes.gen_prompts):
        obs, info = env.reset(seed=seed)
        prompts.append(chat.prompt_ids(template.system, template.user_message(obs, [])))
    env.close()
    label = f"Qwen2 {sum(p.numel() for p in model.parameters()) / 1e6:.3g}M"
    return LM(model, tokenizer, chat, folder, prompts, label)


def lean_forward_matches(lm: LM, device: str) -> list[Row]:
    """The lean forward's logits against transformers' on a left-padded batch, in float32."""
    from rldojo.llm.fastllama import LlamaRunner
    from rldojo.llm.generate import left_pad, positions

    model = lm.model
    if not LlamaRunner.supports(model):
        raise RuntimeError("the lean forward does not take this Qwen2 model")
    model.float()
    try:
        ids, mask = left_pad(lm.prompts[:4], lm.tokenizer.pad_token_id)
        ids, mask = ids.to(device), mask.to(device)
        pos = positions(mask)
        runner = LlamaRunner(model)
        runner.refresh()
        with torch.inference_mode():
            expected = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
            got = runner.forward(ids, mask, pos, runner.new_cache(ids.shape[0], ids.shape[1]), keep=ids.shape[1])
        real = mask.bool()
        diff = float((got[real] - expected[real]).abs().max())
        scale = float(expected[real].abs().max())
    finally:
        model.to(torch.bfloat16)
    if not diff <= 1e-3 * max(scale, 1.0):
        raise RuntimeError(f"lean forward differs from transformers by {diff:.2e} (largest logit {scale:.2f})")
    return [
        Row(
            f"lean forward = transformers ({lm.label})",
            device,
            "max |logit diff|",
            f"{diff:.1e}",
            f"float32, 4 left-padded prompts; largest logit {scale:.2f}",
        )
    ]


def generation(lm: LM, device: str, sizes: Sizes) -> list[Row]:
    """New tokens/s of greedy generation of `gen_tokens` tokens for every prompt, three ways."""
    from rldojo.llm.fastllama import LlamaRunner
    from rldojo.llm.generate import HFBackend, SamplingParams, left_pad

    model, n = lm.model, sizes.gen_tokens
    rows: list[Row] = []
    params = SamplingParams(temperature=0.0, max_new_tokens=n)  # no stop token: every row writes n
    outputs = {}
    label = f"generation {len(lm.prompts)} x {n} tokens, bf16"
    for fast in (True, False):
        backend = HFBackend(model, lm.tokenizer, lm.chat, fast=fast)
        if fast and not isinstance(backend._runner(), LlamaRunner):
            raise RuntimeError("rldojo's backend did not take the lean forward for this Qwen2 model")
        backend.generate(lm.prompts[:2], SamplingParams(temperature=0.0, max_new_tokens=4))  # warm-up
        with peak_memory(device) as peak:
            sync(device)
            start = time.perf_counter()
            out = backend.generate(lm.prompts, params)
            sync(device)
            seconds = time.perf_counter() - start
        tokens = sum(len(c.token_ids) for c in out)
        outputs[fast] = [c.token_ids for c in out]
        name = "rldojo, lean forward" if fast else "rldojo, transformers forward"
        rows.append(Row(label, device, f"new tokens/s: {name}", f"{tokens / seconds:,.0f}", f"peak {gib(peak['gib'])}"))
    agree = statistics.mean(a[:16] == b[:16] for a, b in zip(outputs[True], outputs[False]))
    rows[0].note += f"; first 16 tokens equal to transformers forward's in {agree:.0%} of rows"
    ids, mask = left_pad(lm.prompts, lm.tokenizer.pad_token_id)
    ids, mask = ids.to(device), mask.to(device)
    settings = dict(do_sample=False, pad_token_id=lm.tokenizer.pad_token_id, eos_token_id=None)
    with torch.inference_mode():
        model.generate(input_ids=ids[:2], attention_mask=mask[:2], max_new_tokens=4, **settings)  # warm-up
        with peak_memory(device) as peak:
            sync(device)
            start = time.perf_counter()
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, **settings)
            sync(device)
            seconds = time.perf_counter() - start
    tokens = (out.shape[1] - ids.shape[1]) * out.shape[0]
    rows.append(
        Row(
            label, device, "new tokens/s: transformers generate", f"{tokens / seconds:,.0f}", f"peak {gib(peak['gib'])}"
        )
    )
    return rows


def lm_spec(lm: LM, device: str, sizes: Sizes, agent: dict):
    from rldojo.run.spec import spec_from_raw

    raw = {
        "name": "gpu_check_lm",
        "env": {"id": "dojo/SAT-v0", "num_envs": sizes.grpo_group * sizes.grpo_groups, "kwargs": SAT_KWARGS},
        "agent": {
            "model": {"path": str(lm.folder), "dtype": "bfloat16", "max_model_len": 4096, "lora": LORA},
            "generation": {"temperature": 1.0, "max_new_tokens": sizes.grpo_tokens},
            "prompt": {"template": "raw"},
            "tasks": {"held_out": 0.05},
            **agent,
        },
        "train": {"iterations": sizes.steps + 1},
        "meta": {"sessions": 1, "seed": 0, "device": device},
    }
    return spec_from_raw(raw, [], source="gpu_check")


@contextlib.contextmanager
def lm_trainer(spec) -> Iterator[object]:
    from rldojo.run.agents import build_lm_agent, make_text_envs

    envs = make_text_envs(spec, spec.env.num_envs)
    try:
        agent = build_lm_agent(spec, 0, envs)
        yield agent.begin_stage(0)
    finally:
        for env in envs:
            env.close()


def timed_steps(trainer, device: str, steps: int) -> tuple[list[float], list[dict]]:
    """Seconds and metrics of `steps` steps after one warm-up step."""
    times, metrics = [], []
    iterator = iter(trainer.steps())
    for index in range(steps + 1):
        sync(device)
        start = time.perf_counter()
        report = next(iterator)
        sync(device)
        if index:
            times.append(time.perf_counter() - start)
            metrics.append(report.metrics)
    return times, metrics


def sft(lm: LM, device: str, sizes: Sizes) -> list[Row]:
    spec = lm_spec(
        lm,
        device,
        sizes,
        {
            "algo": "sft",
            "demo_episodes": sizes.sft_demos,
            "batch_size": sizes.sft_batch,
            "micro_batch_size": sizes.sft_batch,
            "epochs": 1,
            "validate_every": 1000,
            "optim": {"lr": 1.0e-4},
        },
    )
    with lm_trainer(spec) as trainer:
        mean_len = statistics.mean(len(ep) for ep in trainer.train)
        with peak_memory(device) as peak:
            times, metrics = timed_steps(trainer, device, sizes.steps)
    step = statistics.mean(times)
    replies = statistics.mean(m["sft_tokens"] for m in metrics)
    return [
        Row(
            f"SFT step, {lm.label} bf16 + LoRA r24",
            device,
            "tokens/s",
            f"{sizes.sft_batch * mean_len / step:,.0f}",
            f"{sizes.sft_batch} episodes of {mean_len:.0f} tokens per step ({replies:.0f} reply tokens), "
            f"{step:.2f} s/step, peak {gib(peak['gib'])}",
        )
    ]


GRPO_SETTINGS = {"loss": "grpo", "beta": 0.02, "optim": {"lr": 3.0e-5}}


def grpo(lm: LM, device: str, sizes: Sizes) -> list[Row]:
    spec = lm_spec(
        lm,
        device,
        sizes,
        {
            "algo": "grpo",
            "group_size": sizes.grpo_group,
            "groups": sizes.grpo_groups,
            "micro_batch_size": sizes.grpo_group * sizes.grpo_groups,
            **GRPO_SETTINGS,
        },
    )
    with lm_trainer(spec) as trainer:
        with peak_memory(device) as peak:
            times, metrics = timed_steps(trainer, device, sizes.steps)
    step = statistics.mean(times)
    tokens = statistics.mean(m["completion_tokens"] for m in metrics)
    rollout = statistics.mean(m["rollout_s"] for m in metrics)
    episodes = sizes.grpo_group * sizes.grpo_groups
    return [
        Row(
            f"GRPO step, {lm.label} bf16 + LoRA r24",
            device,
            "completion tokens/s",
            f"{tokens / step:,.0f}",
            f"{episodes} episodes x {sizes.grpo_tokens} max new tokens, {step:.2f} s/step "
            f"({rollout:.2f} s rollout), peak {gib(peak['gib'])}",
        )
    ]


def trl_grpo(lm: LM, device: str, sizes: Sizes) -> list[Row]:
    label = f"TRL GRPOTrainer step, {lm.label} bf16 + LoRA r24"
    try:
        import trl
        from datasets import Dataset
    except ImportError as exc:
        return [Row(label, device, "completion tokens/s", "-", f"{exc.name} not installed", "skipped")]
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback

    episodes = sizes.grpo_group * sizes.grpo_groups
    placement = {} if device == "cpu" else {"device_map": {"": device}}
    model = AutoModelForCausalLM.from_pretrained(str(lm.folder), dtype=torch.bfloat16, **placement)
    texts = [lm.tokenizer.decode(p, skip_special_tokens=False) for p in lm.prompts]
    data = Dataset.from_list([{"prompt": texts[i % len(texts)]} for i in range(episodes * (sizes.steps + 2))])
    times: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            sync(device)
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync(device)
            times.append(time.perf_counter() - self.start)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    with tempfile.TemporaryDirectory() as out, peak_memory(device) as peak:
        config = trl.GRPOConfig(
            output_dir=out,
            use_cpu=device == "cpu",
            bf16=device != "cpu",
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            max_steps=sizes.steps + 1,
            per_device_train_batch_size=episodes,
            num_generations=sizes.grpo_group,
            max_completion_length=sizes.grpo_tokens,
            temperature=1.0,
            beta=GRPO_SETTINGS["beta"],
            loss_type=GRPO_SETTINGS["loss"],
            learning_rate=GRPO_SETTINGS["optim"]["lr"],
            gradient_checkpointing=False,
            seed=0,
            disable_tqdm=True,
        )
        lora = LoraConfig(
            r=LORA["r"],
            lora_alpha=LORA["alpha"],
            lora_dropout=LORA["dropout"],
            target_modules=LORA["target_modules"],
            task_type="CAUSAL_LM",
        )
        trainer = trl.GRPOTrainer(
            model=model,
            reward_funcs=lambda completions, **kwargs: [len(set(str(c).split())) / 16 for c in completions],
            args=config,
            train_dataset=data,
            processing_class=lm.tokenizer,
            peft_config=lora,
            callbacks=[Timer()],
        )
        trainer.remove_callback(PrinterCallback)  # its log dicts would interleave with the table
        trainer.train()
    step = statistics.mean(times[1:])
    tokens = statistics.mean(lengths[1:]) * episodes
    return [
        Row(
            label,
            device,
            "completion tokens/s",
            f"{tokens / step:,.0f}",
            f"trl {trl.__version__}, {episodes} completions x {sizes.grpo_tokens} max, {step:.2f} s/step, "
            f"peak {gib(peak['gib'])}",
        )
    ]


# ---- the run ------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="tiny model and budgets: a smoke test of the script")
    args = parser.parse_args()
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        console.print(
            f"[red]no CUDA GPU here[/] (torch {torch.__version__}, CUDA {torch.version.cuda}); "
            "run `python benchmarks/gpu_check.py --device cpu --small` for a smoke test on the CPU"
        )
        return 2
    sizes = SMALL if args.small else FULL
    from loguru import logger
    from transformers.utils import logging as hf_logging

    logger.remove()  # rldojo's own progress lines would interleave with this script's
    hf_logging.disable_progress_bar()
    # transformers 5 renames gradient_checkpointing and friends; TRL and peft still use the old names
    warnings.filterwarnings("ignore", category=FutureWarning)
    started = time.perf_counter()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="rldojo-gpu-check-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("RLDOJO_CACHE", str(root / "cache"))
        classic_devices = [device, "cpu"] if device != "cpu" else ["cpu"]
        for algo in ("ppo", "sac"):
            for where in classic_devices:
                report.run(f"{algo} classic", where, lambda a=algo, w=where: classic(a, w, sizes, root / "runs"))
        holder: dict[str, LM] = {}

        def build() -> list[Row]:
            holder["lm"] = build_lm(sizes, device, root / "model")
            return []

        report.run("build the model", device, build)
        if "lm" in holder:
            lm = holder["lm"]
            report.run("lean forward", device, lambda: lean_forward_matches(lm, device))
            report.run("generation", device, lambda: generation(lm, device, sizes))
            lm.model = None  # the trainers load their own copy from the folder
            report.run("SFT", device, lambda: sft(lm, device, sizes))
            report.run("GRPO", device, lambda: grpo(lm, device, sizes))
            report.run("TRL GRPO", device, lambda: trl_grpo(lm, device, sizes))
    print_table(report, device, args, time.perf_counter() - started)
    return 1 if report.failed else 0


def print_table(report: Report, device: str, args: argparse.Namespace, seconds: float) -> None:
    import transformers

    import rldojo

    machine = torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "CPU"
    command = "python benchmarks/gpu_check.py" + (f" --device {device}" if device != "cuda" else "")
    command += " --small" if args.small else ""
    table = Table(
        title=f"rldojo GPU check, {datetime.date.today()}: {machine}, {os.cpu_count()} CPU cores; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, rldojo {rldojo.__version__}",
        caption=f"{command}  ({seconds:.0f} s in all)",
    )
    for column in ("check", "device", "figure", "value", "note", "status"):
        table.add_column(column, justify="right" if column == "value" else "left", overflow="fold")
    colour = {"ok": "green", "skipped": "yellow", "FAIL": "red"}
    for row in report.rows:
        status = f"[{colour[row.status]}]{row.status}[/]"
        table.add_row(*(escape(text) for text in (row.check, row.device, row.figure, row.value, row.note)), status)
    console.print(table)
    if report.failed:
        console.print("[red]some checks failed[/] (tracebacks above)")


if __name__ == "__main__":
    sys.exit(main())
