"""Load a causal language model and its tokenizer (a local Hugging Face folder, or rldojo's tiny
model), optionally wrapped with LoRA adapters (peft); save, load and merge adapters.

Nothing is downloaded: a path must be a local folder holding a model (config.json and weights)
and its tokenizer. Bad input is a `UserError` that says what was wrong and what is allowed.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from loguru import logger

from rldojo.errors import UserError
from rldojo.llm.chat import ChatFormat
from rldojo.llm.config import LoraSettings, ModelConfig

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def check_model_dir(path: str) -> Path:
    """The folder of a local Hugging Face causal LM, or a UserError saying what is missing."""
    folder = Path(path).expanduser()
    hint = (
        "model.path must be `tiny` (rldojo's own small model, built locally) or a local folder with a "
        "Hugging Face causal LM: config.json, weights (model.safetensors or pytorch_model.bin) and the "
        "tokenizer files. Nothing is downloaded; save a model with `save_pretrained` first."
    )
    if not folder.exists():
        raise UserError(f"model path '{path}' does not exist. {hint}")
    if not folder.is_dir():
        raise UserError(f"model path '{path}' is a file, not a model folder. {hint}")
    if not (folder / "config.json").is_file():
        raise UserError(f"model path '{path}' is not a model: it has no config.json. {hint}")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"model path '{path}': config.json cannot be read ({exc}). {hint}") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UserError(
            f"model path '{path}': config.json names no model_type, so it is not a transformers model. {hint}"
        )
    if not any((folder / name).is_file() for name in _WEIGHT_FILES):
        raise UserError(f"model path '{path}' has a config but no weights ({', '.join(_WEIGHT_FILES[::2])}). {hint}")
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise UserError(f"model path '{path}' has no tokenizer (tokenizer.json or tokenizer_config.json). {hint}")
    return folder


def context_limit(config: Any) -> int | None:
    """The longest context a transformers config allows (None when it does not say)."""
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_context(max_model_len: int, limit: int | None, where: str) -> None:
    if limit is not None and max_model_len > limit:
        raise UserError(
            f"model.max_model_len={max_model_len} asks for more context than {where} has "
            f"({limit} tokens). Set model.max_model_len to at most {limit}."
        )


def peft_config(settings: LoraSettings):
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )


@dataclass
class LanguageModel:
    """A causal LM (possibly with LoRA adapters), its tokenizer and its chat format."""

    model: torch.nn.Module
    tokenizer: Any
    chat: ChatFormat
    max_model_len: int
    lora: LoraSettings | None = None

    # ---- adapters ---------------------------------------------------------------------------
    @property
    def has_adapters(self) -> bool:
        return hasattr(self.model, "peft_config")

    def add_adapters(self, settings: LoraSettings) -> None:
        """Wrap the model with fresh LoRA adapters; only they train from now on."""
        from peft import get_peft_model

        if self.has_adapters:
            raise ValueError("the model already has adapters; merge them first")
        with warnings.catch_warnings():  # peft 0.21 calls a transformers 5 name deprecated for v6
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            self.model = get_peft_model(self.model, peft_config(settings))
        self.lora = settings

    def merge_adapters(self) -> None:
        """Fold the adapters into the weights (the model becomes a plain model again)."""
        if self.has_adapters:
            self.model = self.model.merge_and_unload()

    def save_adapters(self, folder: Path) -> None:
        if not self.has_adapters:
            raise ValueError("the model has no adapters to save")
        self.model.save_pretrained(str(folder))

    def load_adapters(self, folder: Path) -> None:
        """Replace the current adapters by the ones saved in `folder` (trainable)."""
        from peft import PeftModel

        base = self.model.get_base_model() if self.has_adapters else self.model
        if self.has_adapters:
            base = self.model.unload()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            self.model = PeftModel.from_pretrained(base, str(folder), is_trainable=True)

    def reference_context(self):
        """A context in which the model computes the frozen reference policy (adapters off)."""
        if not self.has_adapters:
            raise ValueError("no adapters: the reference is a separate frozen copy")
        return self.model.disable_adapter()

    def frozen_copy(self) -> torch.nn.Module:
        ref = copy.deepcopy(self.model.get_base_model() if self.has_adapters else self.model)
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    # ---- weights ------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of every weight on the host: a checkpoint should not hold a second model in GPU memory."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def export(self, folder: Path) -> None:
        """A standalone Hugging Face folder (adapters merged into a copy), loadable as model.path."""
        model = self.model
        if self.has_adapters:
            model = copy.deepcopy(self.model).merge_and_unload()
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_language_model(
    cfg: ModelConfig,
    seed: int,
    tiny_source: Callable[[], Any] | None = None,
    device: torch.device | str = "cpu",
) -> LanguageModel:
    """The model of `cfg` on `device`: a local folder, or the tiny model (then `tiny_source()` gives
    the tokenizer folder, built from the env's text). LoRA adapters are added when `cfg.lora` is set
    (peft creates them on the device of the layers they adapt)."""
    device = torch.device(device)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # rldojo shows its own progress; transformers' tqdm bars (e.g. "Writing model shards" at every
    # checkpoint) would interleave with it.
    hf_logging.disable_progress_bar()
    check_precision(cfg, device)
    dtype = getattr(torch, cfg.dtype)
    if cfg.path == "tiny":
        from rldojo.llm.tiny import tiny_model

        if tiny_source is None:
            raise ValueError("the tiny model needs a tokenizer source (the env's text)")
        tokenizer = AutoTokenizer.from_pretrained(str(tiny_source()), local_files_only=True)
        model = tiny_model(cfg.tiny, tokenizer, seed).to(device=device, dtype=dtype)
        model.set_attn_implementation(cfg.attn_implementation)
        where = "the tiny model (model.tiny.max_position_embeddings)"
    else:
        folder = check_model_dir(cfg.path)
        # On a GPU the weights load straight into its memory (a quantised base must: bitsandbytes
        # quantises as it places them); on the CPU transformers' default placement is the CPU.
        placement = {} if device.type == "cpu" else {"device_map": {"": device}}
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                str(folder),
                local_files_only=True,
                dtype=dtype,
                attn_implementation=cfg.attn_implementation,
                **placement,
                **quantization_arguments(cfg),
            )
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(
                f"model path '{cfg.path}' could not be loaded as a causal language model: {str(exc).splitlines()[0]}"
            ) from None
        where = f"the model at '{cfg.path}'"
    if cfg.load_in != "full":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    elif cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.lora is not None:  # frozen embeddings: the checkpointed blocks still need an input with grad
            model.enable_input_require_grads()
    check_context(cfg.max_model_len, context_limit(model.config), where)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    chat = ChatFormat.for_tokenizer(tokenizer, cfg.chat_template)
    if not chat.stop_ids and not chat.stop_strings:
        logger.warning("the tokenizer has no end-of-sequence token: replies end at max_new_tokens")
    lm = LanguageModel(model=model, tokenizer=tokenizer, chat=chat, max_model_len=cfg.max_model_len)
    if cfg.lora is not None:
        lm.add_adapters(cfg.lora)
    logger.info(
        "model {}: {:,} parameters ({:,} trainable){}",
        cfg.path,
        lm.parameter_count(),
        sum(p.numel() for p in lm.trainable_parameters()),
        ", LoRA" if cfg.lora else "",
    )
    return lm


def check_precision(cfg: ModelConfig, device: torch.device | str | None = None) -> None:
    """What model.dtype, attn_implementation and load_in need on `device` (None: a GPU if there is
    one), checked before any weight is loaded. The messages name the actual obstacle: the chosen
    device is the CPU, or this machine has no usable GPU."""
    import importlib.util

    cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    if cuda:
        where = ""
    elif torch.cuda.is_available():
        chosen = torch.device(device or "cpu")
        where = f"; meta.device resolves to {chosen} here (set meta.device: cuda or auto to use the GPU)"
    else:
        where = "; this machine has no usable CUDA GPU"
    if cfg.dtype == "float16" and not cuda:
        raise UserError(
            "model.dtype: float16 needs a CUDA GPU (on a CPU it overflows without loss scaling)"
            f"{where}. Use bfloat16, which halves memory on CPUs too, or float32."
        )
    if cfg.attn_implementation == "flash_attention_2":
        missing = [] if cuda else ["a CUDA GPU"]
        if importlib.util.find_spec("flash_attn") is None:
            missing.append("the flash-attn package, which is not installed")
        if missing:
            raise UserError(
                f"model.attn_implementation: flash_attention_2 needs {' and '.join(missing)}"
                f"{where if not cuda else ''}. Use sdpa (the default) or eager."
            )
    if cfg.load_in != "full":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UserError(
                f"model.load_in: {cfg.load_in} loads the base model through bitsandbytes, which is not "
                "installed: pip install 'rldojo[quant]' (CUDA GPUs), or use load_in: full"
            )
        if not cuda:
            raise UserError(
                f"model.load_in: {cfg.load_in} needs a CUDA GPU (bitsandbytes quantises on it){where}. "
                "Use load_in: full here."
            )


def quantization_arguments(cfg: ModelConfig) -> dict[str, Any]:
    """from_pretrained's arguments for a quantised frozen base (none for load_in: full)."""
    if cfg.load_in == "full":
        return {}
    from transformers import BitsAndBytesConfig

    if cfg.load_in == "8bit":
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=getattr(torch, cfg.dtype)
        )
    }


def check_llm_installed(algo: str) -> None:
    import importlib.util

    missing = [name for name in ("transformers", "tokenizers") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"{algo} trains a language model and needs {', '.join(missing)}: pip install 'rldojo[llm]'.")


def check_local_model(cfg: ModelConfig) -> None:
    """A local model path must hold a model whose context fits `max_model_len` (config only, fast)."""
    from transformers import AutoConfig

    folder = check_model_dir(cfg.path)
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"model path '{cfg.path}': its config.json is not a transformers config ({str(exc).splitlines()[0]})."
        ) from None
    check_context(cfg.max_model_len, context_limit(config), f"the model at '{cfg.path}'")
