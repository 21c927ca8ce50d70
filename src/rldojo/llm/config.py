"""Spec sections shared by every language-model agent: the model, generation, prompts, task splits.

Field docstrings are the spec reference (`rldojo specs --fields`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rldojo.config import StrictModel


class LoraSettings(StrictModel):
    """`model.lora:` train low-rank adapters (peft) instead of every weight."""

    r: int = Field(16, ge=1)
    """Rank of each adapter."""
    alpha: float = Field(32.0, gt=0)
    """Scale of the adapters' update (the update is multiplied by alpha / r)."""
    dropout: float = Field(0.05, ge=0, lt=1)
    """Dropout on the adapters' input during training."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names to adapt (e.g. [q_proj, v_proj]), or `all-linear` for every linear layer but the output."""

    # Validators rather than constrained item types: the spec reference shows the plain types.
    @field_validator("target_modules")
    @classmethod
    def _names_modules(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list) and (not value or not all(value)):
            raise ValueError("give at least one module name, none of them empty (or `all-linear`)")
        return value


class TinyModelSettings(StrictModel):
    """`model.tiny:` the shape of rldojo's own small model (used when `model.path` is `tiny`).

    The tokenizer is a byte-level BPE trained on the env's own text (expert episodes and the
    prompts), the model a Llama-style transformer with random weights; both are built locally.
    """

    vocab_size: int = Field(1024, ge=300, le=65536)
    """Tokenizer vocabulary (byte-level BPE: 256 byte tokens + merges + special tokens)."""
    hidden_size: int = Field(128, ge=16)
    """Width of the transformer."""
    layers: int = Field(4, ge=1)
    """Transformer blocks."""
    heads: int = Field(4, ge=1)
    """Attention heads (hidden_size must be a multiple)."""
    intermediate_size: int = Field(384, ge=16)
    """Width of each MLP."""
    max_position_embeddings: int = Field(4096, ge=64)
    """Longest context the model supports (tokens)."""
    corpus_episodes: int = Field(300, ge=1)
    """Expert episodes of the env played to build the tokenizer's training text."""

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TinyModelSettings:
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        return self


class ModelConfig(StrictModel):
    """`model:` which language model, with optional LoRA."""

    path: str = Field("tiny", min_length=1)
    """`tiny` (rldojo's small model, built locally) or a local folder with a Hugging Face causal LM
    and its tokenizer (nothing is downloaded)."""
    tiny: TinyModelSettings = Field(default_factory=TinyModelSettings)
    """Shape of the tiny model (only when path is `tiny`)."""
    lora: LoraSettings | None = None
    """Train LoRA adapters instead of all weights (None: full fine-tuning)."""
    max_model_len: int = Field(2048, ge=16)
    """Tokens an episode's context may hold; an episode that would exceed it ends as truncated."""
    chat_template: Literal["auto", "plain"] = "auto"
    """`auto`: the tokenizer's chat template (a plain one, with a log line, when it has none);
    `plain`: always the plain System:/User:/Assistant: template."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Dtype of the weights (and of training). bfloat16 halves memory and runs on CPUs and GPUs;
    float16 needs a CUDA GPU (without loss scaling it overflows elsewhere)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of keeping them: less memory for long
    episodes, about a third more compute. Training then uses transformers' forward."""
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    """Attention kernel, passed to transformers (`flash_attention_2` needs the flash-attn package and a GPU)."""
    load_in: Literal["full", "8bit", "4bit"] = "full"
    """Quantised loading of the frozen base model under LoRA (bitsandbytes on a CUDA GPU; needs `lora`)."""

    @model_validator(mode="after")
    def _quantised_base_needs_adapters(self) -> ModelConfig:
        if self.load_in != "full" and self.lora is None:
            raise ValueError(
                f"model.load_in: {self.load_in} quantises the frozen base model, which only LoRA training "
                "leaves frozen; set model.lora (e.g. {r: 16, alpha: 32}) or use load_in: full"
            )
        if self.load_in != "full" and self.path == "tiny":
            raise ValueError("model.load_in quantises a local model folder; the tiny model is too small for it")
        return self


class GenerationConfig(StrictModel):
    """`generation:` how the model acts: sampling settings and the action mode."""

    backend: Literal["hf"] = "hf"
    """Generation backend: `hf` (the model's own weights in PyTorch with a preallocated KV cache, CPU or
    GPU; plain Llama and Qwen2 models such as the tiny one run through a lean forward of the same
    math (`rldojo.llm.fastllama`), others through transformers' forward)."""
    action_mode: Literal["generate", "choose"] = "generate"
    """`generate`: free text, the action parsed out of it; `choose`: score each available action's
    log-likelihood and sample from the softmax (worlds that list their actions only)."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature while training (0: greedy)."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling: sample from the smallest set of tokens with this much probability."""
    max_new_tokens: int = Field(32, ge=1)
    """Most tokens the model may write per turn."""
    stop: list[str] = Field(default_factory=list)
    """Strings that end a turn's generation (besides the end-of-turn token)."""
    parse_fallback: bool = False
    """`generate` mode, training rollouts: when no strategy matches, take the first available action.
    Off by default: the raw text then reaches the env, which answers it as invalid, so every reward
    is earned by an action the model wrote. On, RL credits the model for actions it did not choose
    and can learn to write junk that the fallback turns into a decent action (evaluation never uses it)."""
    eval_temperature: float = Field(0.0, ge=0)
    """Sampling temperature of held-out evaluations (0: greedy)."""
    explore: float = Field(0.0, ge=0, le=1)
    """`choose` mode, training rollouts: the share of turns whose action is drawn uniformly from the
    listed ones instead of from the model's choice (epsilon-greedy exploration; evaluation never
    explores). RL can only reinforce actions it plays, and after SFT an action the demonstrations
    never show can have a probability far below anything sampling reaches. Those turns are trained
    at the model's probability (the update does not correct for the draw); GRPO skips the ones in
    worse-than-group episodes unless `explored_losses: train`. Their share is logged as `explored`."""

    @model_validator(mode="after")
    def _explore_needs_choices(self) -> GenerationConfig:
        if self.explore > 0 and self.action_mode != "choose":
            raise ValueError(
                f"generation.explore={self.explore} draws from the listed actions, so it needs "
                "action_mode: choose (in generate mode raise temperature to explore instead)"
            )
        return self

    @field_validator("stop")
    @classmethod
    def _stop_strings_not_empty(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError(
                "an empty stop string matches at once: every turn would end after one token with an empty reply; remove it"
            )
        return value


class PromptConfig(StrictModel):
    """`prompt:` what the model reads."""

    template: Literal["auto", "act", "react", "raw"] = "auto"
    """Reply format. `act`: `Action: <action>`; `react`: `Thought: ...` then `Action: <action>`;
    `raw`: the whole reply is the action (single-turn reasoning tasks); `auto`: raw for single-turn
    envs, act otherwise."""
    system: str | None = None
    """System prompt (None: the template's own)."""
    show_actions: bool = True
    """Append the world's available actions to each observation."""


class TaskSplitConfig(StrictModel):
    """`tasks:` which tasks train and which are held out for evaluation."""

    held_out: float = Field(0.1, gt=0, lt=1)
    """Fraction of task ids held out for evaluation (a fixed hash of the id decides; training
    never sees them)."""
