"""rldojo's own small language model, built locally: nothing is downloaded.

The tokenizer is a byte-level BPE (so any text encodes) trained with `tokenizers` on the env's own
text: observations, available actions and expert actions of `corpus_episodes` expert episodes on
training tasks, plus the prompts. It carries a compact chat template with special tokens. The
model is a Llama-style transformer from a `transformers` config with random weights (seeded).

The tokenizer is cached under `$RLDOJO_CACHE` (default ~/.cache/rldojo) by a hash of everything
that shapes it, so sessions share one; it is written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from rldojo.llm.config import TinyModelSettings

CORPUS_VERSION = 1
SPECIAL_TOKENS = ("<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def cache_root() -> Path:
    return Path(os.environ.get("RLDOJO_CACHE", Path.home() / ".cache" / "rldojo"))


def corpus_lines(
    env_factory: Callable[[], Any],
    episodes: int,
    accept_task: Callable[[int], bool],
    extra_text: list[str],
    user_text: Callable[[str, dict], str],
    reply_text: Callable[[str], str],
    seed: int = 0,
) -> Iterator[str]:
    """What the model will read and write in expert episodes (random ones where the world has no
    expert) on training tasks: user messages and replies as the prompt template writes them."""
    yield from extra_text
    env = env_factory()
    rng = np.random.default_rng(seed)
    try:
        played, attempt = 0, 0
        while played < episodes and attempt < episodes * 50:
            obs, info = env.reset(seed=seed + attempt)
            attempt += 1
            if not accept_task(int(info.get("task_id") or 0)):
                continue
            played += 1
            for _ in range(200):
                yield user_text(obs, info)
                available = list(info.get("available_actions") or [])
                action = info.get("expert_action")
                if not action and available:
                    action = available[int(rng.integers(len(available)))]
                if not action:
                    break
                yield reply_text(action)
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
    finally:
        env.close()


def _fingerprint(settings: TinyModelSettings, env_key: str, extra_text: list[str]) -> str:
    payload = json.dumps(
        {
            "v": CORPUS_VERSION,
            "vocab": settings.vocab_size,
            "episodes": settings.corpus_episodes,
            "env": env_key,
            "extra": extra_text,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_tokenizer(lines: Iterator[str], vocab_size: int, max_length: int):
    """A byte-level BPE trained on `lines`, wrapped as a transformers tokenizer with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|end|>", pad_token="<|pad|>", model_max_length=max_length
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_tokenizer_dir(
    settings: TinyModelSettings,
    env_key: str,
    env_factory: Callable[[], Any],
    accept_task: Callable[[int], bool],
    extra_text: list[str],
    user_text: Callable[[str, dict], str],
    reply_text: Callable[[str], str],
) -> Path:
    """The cached tokenizer folder for this env, template and shape; trained first if missing."""
    folder = cache_root() / "tiny" / _fingerprint(settings, env_key, extra_text)
    if (folder / "tokenizer.json").is_file():
        return folder
    logger.info(
        "training the tiny model's tokenizer ({} tokens) on {} expert episodes of {}",
        settings.vocab_size,
        settings.corpus_episodes,
        env_key,
    )
    lines = corpus_lines(env_factory, settings.corpus_episodes, accept_task, extra_text, user_text, reply_text)
    tokenizer = train_tokenizer(lines, settings.vocab_size, settings.max_position_embeddings)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tok-", dir=folder.parent))
    tokenizer.save_pretrained(tmp)
    try:
        os.rename(tmp, folder)  # atomic; another session may have won the race, then keep its copy
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def tiny_tokenizer_for_env(
    settings: TinyModelSettings,
    env_id: str,
    env_kwargs: dict[str, Any],
    max_episode_steps: int | None,
    template: Any,
    tasks: Any,
) -> Path:
    """The tiny model's tokenizer for a world and prompt template, trained on the expert's episodes
    of training tasks only (`tasks`: the agent's TaskSplitConfig)."""
    from rldojo.envs import make_env
    from rldojo.llm.tasks import is_held_out

    key = f"{env_id}|{sorted(env_kwargs.items())}|{max_episode_steps}|{template}|{tasks.held_out}"
    return tiny_tokenizer_dir(
        settings,
        key,
        env_factory=lambda: make_env(env_id, env_kwargs, max_episode_steps),
        accept_task=lambda task: not is_held_out(task, tasks.held_out),
        extra_text=[template.system, "Action: Thought: Actions:"],
        user_text=lambda obs, info: template.user_message(obs, list(info.get("available_actions") or [])),
        reply_text=template.write_action,
    )


def tiny_model(settings: TinyModelSettings, tokenizer, seed: int):
    """A Llama-style causal LM with random weights sized by `settings`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        num_key_value_heads=settings.heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        attention_dropout=0.0,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    return model
