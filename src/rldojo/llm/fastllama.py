"""A lean inference forward for plain Llama-family causal LMs: Llama (rldojo's tiny model is one)
and Qwen2 (Qwen2 and Qwen2.5: Llama with biases on the q, k and v projections).

For a model of about a million parameters, a decode step of transformers' generic forward spends
most of its time outside the matrix products (module calls, output dataclasses, mask building,
cache bookkeeping). `LlamaRunner` computes the same function with plain tensor ops on the model's
own weights:

- q, k and v (and the MLP's gate and up) as one matrix product each, on weights (and q/k/v biases)
  concatenated once per `refresh()` (call it after the weights change: every generate/score call does);
- rotary embeddings looked up in a table built by the model's own rotary module;
- keys and values written into preallocated buffers (`KVCache`), no concatenation per token;
- an additive attention mask built once per forward from the 0/1 padding mask.

Every tensor is made on the device and in the dtype of the model's weights, so the same code runs
on a CPU or a CUDA GPU, in float32, bfloat16 or float16. On CUDA, grouped-query keys and values are
repeated to the query heads before attention, as transformers does: fused attention kernels take a
mask only without grouped heads (otherwise PyTorch would fall back to its unfused math kernel).

On rldojo's tiny model (8 rows, 16 new tokens, one CPU thread) a generate call takes about 0.6x the
time of the transformers path. It is used only where `LlamaRunner.supports(model)` holds: an exact
`LlamaForCausalLM` or `Qwen2ForCausalLM` whose projections are exactly `nn.Linear` (biases only on
the attention projections; adapters or quantized layers swapped in do not qualify), the family's
RMSNorm, SiLU MLPs, static rotary embeddings, full attention in every layer (a Qwen2 config with
`use_sliding_window` on does not qualify) and no hooks; any other model takes the generic
transformers path. Results equal the generic path's up to float rounding (the tests check tokens
and log-probabilities against it, in float32 and bfloat16).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Rotary types whose frequencies do not depend on the sequence length (a lookup table is exact).
_STATIC_ROPE = frozenset({"default", "linear", "llama3", "yarn"})


@dataclass
class _LayerView:
    keys: torch.Tensor
    values: torch.Tensor


class KVCache:
    """Keys and values of every layer in preallocated buffers (batch, kv_heads, capacity, head_dim);
    the first `length` columns are filled. Exposes `layers[i].keys/values` and
    `batch_select_indices` like transformers' caches, so the backend treats both alike."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int) -> None:
        self.keys, self.values, self.length = keys, values, length

    @classmethod
    def from_data(cls, data: list[tuple[torch.Tensor, torch.Tensor]], reserve: int = 0) -> KVCache:
        """A cache holding `data` (per layer (keys, values), each (batch, heads, length, dim)) with room
        for `reserve` more columns."""
        length = data[0][0].shape[-2]
        keys, values = [], []
        for k, v in data:
            batch, heads, _, dim = k.shape
            kbuf = k.new_empty((batch, heads, length + reserve, dim))
            vbuf = v.new_empty((batch, heads, length + reserve, dim))
            kbuf[:, :, :length] = k
            vbuf[:, :, :length] = v
            keys.append(kbuf)
            values.append(vbuf)
        return cls(keys, values, length)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[-2]

    def reserve(self, extra: int) -> None:
        """Make room for `extra` more columns (grows by half again at least, copying once)."""
        need = self.length + extra
        if need <= self.capacity:
            return
        capacity = max(need, self.capacity + self.capacity // 2)
        for buffers in (self.keys, self.values):
            for i, old in enumerate(buffers):
                batch, heads, _, dim = old.shape
                new = old.new_empty((batch, heads, capacity, dim))
                new[:, :, : self.length] = old[:, :, : self.length]
                buffers[i] = new

    @property
    def layers(self) -> list[_LayerView]:
        return [_LayerView(k[:, :, : self.length], v[:, :, : self.length]) for k, v in zip(self.keys, self.values)]

    def batch_select_indices(self, index: torch.Tensor) -> None:
        """Keep (or repeat) the rows in `index`, in that order."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


@dataclass
class _Weights:
    embed: torch.Tensor
    layers: list[tuple[torch.Tensor | None, ...]]
    """Per layer: input norm, fused qkv, fused qkv bias (or None), o, o bias (or None),
    post-attention norm, fused gate-up, down."""
    norm: torch.Tensor
    lm_head: torch.Tensor


def _expand_grouped_heads(device: torch.device) -> bool:
    """Whether to repeat grouped key/value heads up to the query heads before attention on `device`.
    PyTorch's CPU attention takes grouped heads with a mask as they are (`enable_gqa`); CUDA's fused
    kernels take a mask only without grouped heads and would otherwise fall back to the math kernel."""
    return device.type != "cpu"


def _family(model: torch.nn.Module) -> tuple[type, type] | None:
    """(decoder layer class, RMSNorm class) of a model of exactly a supported class, else None."""
    try:
        from transformers import LlamaForCausalLM, Qwen2ForCausalLM
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm
        from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2RMSNorm
    except ImportError:  # pragma: no cover - transformers is a dependency of the llm extra
        return None
    families = {
        LlamaForCausalLM: (LlamaDecoderLayer, LlamaRMSNorm),
        Qwen2ForCausalLM: (Qwen2DecoderLayer, Qwen2RMSNorm),
    }
    return families.get(type(model))


class LlamaRunner:
    """Inference forward of a plain Llama-family causal LM (see the module docstring)."""

    def __init__(self, model: torch.nn.Module) -> None:
        if not self.supports(model):
            raise ValueError(
                "LlamaRunner needs a plain LlamaForCausalLM or Qwen2ForCausalLM (see LlamaRunner.supports)"
            )
        cfg = model.config
        self.model = model
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads or cfg.num_attention_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.intermediate = cfg.intermediate_size
        self.eps = float(cfg.rms_norm_eps)
        self.scale = self.head_dim**-0.5
        self.weights: _Weights | None = None
        self._cos: torch.Tensor | None = None
        self._sin: torch.Tensor | None = None

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        """Whether `model` is exactly an architecture this runner computes (see the module docstring)."""
        family = _family(model)
        if family is None:
            return False
        decoder_layer, rms_norm = family
        cfg = model.config
        rope = getattr(model.model.rotary_emb, "rope_type", "default")
        if (
            cfg.hidden_act != "silu"
            or getattr(cfg, "pretraining_tp", 1) != 1
            or rope not in _STATIC_ROPE
            # Sliding-window layers attend to a band, not the whole past (Qwen2's use_sliding_window).
            or getattr(cfg, "use_sliding_window", False)
            or any(kind != "full_attention" for kind in getattr(cfg, "layer_types", None) or [])
        ):
            return False
        inner = model.model
        attention_linears, unbiased_linears = [], [model.lm_head]
        norms = [inner.norm]
        for layer in inner.layers:
            if type(layer) is not decoder_layer:
                return False
            attn, mlp = layer.self_attn, layer.mlp
            attention_linears += [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj]  # biases allowed
            unbiased_linears += [mlp.gate_proj, mlp.up_proj, mlp.down_proj]
            norms += [layer.input_layernorm, layer.post_attention_layernorm]
        # Exactly these module types (adapters or quantized layers swapped in take the generic path).
        if any(type(m) is not torch.nn.Linear for m in attention_linears + unbiased_linears):
            return False
        if any(m.bias is not None for m in unbiased_linears):
            return False
        # q, k and v are fused into one product: they have biases all together or not at all.
        for layer in inner.layers:
            attn = layer.self_attn
            if len({attn.q_proj.bias is None, attn.k_proj.bias is None, attn.v_proj.bias is None}) != 1:
                return False
        if any(type(m) is not rms_norm for m in norms) or type(inner.embed_tokens) is not torch.nn.Embedding:
            return False
        return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())

    # ---- weights and tables -----------------------------------------------------------------------
    def _gather_weights(self) -> _Weights:
        """The model's weights, q/k/v and gate/up concatenated (inside autograd when grad is on)."""
        inner = self.model.model
        layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv_bias = None
            if attn.q_proj.bias is not None:
                qkv_bias = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
            layers.append(
                (
                    layer.input_layernorm.weight,
                    torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
                    qkv_bias,
                    attn.o_proj.weight,
                    attn.o_proj.bias,
                    layer.post_attention_layernorm.weight,
                    torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
                    mlp.down_proj.weight,
                )
            )
        return _Weights(
            embed=inner.embed_tokens.weight, layers=layers, norm=inner.norm.weight, lm_head=self.model.lm_head.weight
        )

    @torch.no_grad()
    def refresh(self) -> None:
        """Take the model's current weights for inference; call after they change."""
        self.weights = self._gather_weights()
        self._cos = self._sin = None  # rotary buffers may have moved device or dtype

    @torch.no_grad()
    def _rope_tables(self, longest: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) of positions 0..longest-1 from the model's rotary module; sin carries the sign of
        rotate_half, so that rotate(x) = x * cos + swap_halves(x) * sin."""
        stale = self._cos is None or self._cos.shape[0] < longest or self._cos.device != like.device
        # Tables made under inference mode cannot be saved for a backward pass.
        if stale or self._cos.dtype != like.dtype or (self._cos.is_inference() and torch.is_grad_enabled()):
            size = max(longest, 256 if self._cos is None else 2 * self._cos.shape[0])
            ids = torch.arange(size, device=like.device)[None, :]
            cos, sin = self.model.model.rotary_emb(like, ids)
            half = self.head_dim // 2
            sin = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
            self._cos, self._sin = cos[0].contiguous(), sin.contiguous()
        return self._cos, self._sin

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty cache for `batch` rows with room for `capacity` tokens."""
        if self.weights is None:
            self.refresh()
        like = self.weights.embed
        shape = (batch, self.kv_heads, max(capacity, 1), self.head_dim)
        layers = range(len(self.weights.layers))
        return KVCache([like.new_empty(shape) for _ in layers], [like.new_empty(shape) for _ in layers], 0)

    def cache_from(self, data: list[tuple[torch.Tensor, torch.Tensor]], reserve: int) -> KVCache:
        """A cache holding `data` (per layer (keys, values)) with room for `reserve` more tokens."""
        return KVCache.from_data(data, reserve)

    # ---- the forward ------------------------------------------------------------------------------
    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # One fused kernel for LlamaRMSNorm's x * rsqrt(mean(x^2) + eps) * weight.
        return F.rms_norm(x, (x.shape[-1],), weight, self.eps)

    def _compute(
        self,
        w: _Weights,
        ids: torch.Tensor,
        mask: torch.Tensor,
        pos: torch.Tensor,
        past: int,
        keep: int,
        attend: Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """The transformer on new tokens `ids` (batch, new); `attend(layer, keys, values)` joins the
        new keys and values to the `past` cached ones and returns all of them. Logits of the last
        `keep` tokens (all of them when keep is 0)."""
        device = w.embed.device
        ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
        batch, new = ids.shape
        total = past + new
        x = F.embedding(ids, w.embed)
        # A position never exceeds the number of real tokens before it: `total` bounds them all.
        cos_table, sin_table = self._rope_tables(total, x)
        cos, sin = cos_table[pos][:, None], sin_table[pos][:, None]  # (batch, 1, new, dim)
        if mask.dim() == 4:  # a full (batch, 1, new, total) mask: e.g. the tree of choose mode's candidates
            attn_mask = mask.bool()
        elif new == 1:
            attn_mask = mask[:, None, None, :total].bool()  # (batch, 1, 1, total)
        else:
            valid = mask[:, None, None, :total].bool()
            rows = torch.arange(past, total, device=device)[:, None]
            cols = torch.arange(total, device=device)[None, :]
            # A query always sees itself: padding queries then attend to something (their output
            # is never used), and no row of the softmax is empty.
            attn_mask = (valid & (cols <= rows)) | (cols == rows)
        # Additive form once here (attention would convert a boolean mask in every layer).
        attn_mask = torch.zeros(attn_mask.shape, dtype=x.dtype, device=device).masked_fill_(~attn_mask, float("-inf"))
        heads, kv_heads, dim, half = self.heads, self.kv_heads, self.head_dim, self.head_dim // 2
        qk_heads = heads + kv_heads
        repeat = heads // kv_heads if kv_heads != heads and _expand_grouped_heads(device) else 1
        for index, (ln1, wqkv, bqkv, wo, bo, ln2, wgu, wd) in enumerate(w.layers):
            h = self._rms(x, ln1)
            qkv = F.linear(h, wqkv, bqkv)
            qk = qkv[..., : qk_heads * dim].view(batch, new, qk_heads, dim).transpose(1, 2)
            swapped = torch.cat([qk[..., half:], qk[..., :half]], dim=-1)
            qk = qk * cos + swapped * sin
            keys, values = attend(
                index, qk[:, heads:], qkv[..., qk_heads * dim :].view(batch, new, kv_heads, dim).transpose(1, 2)
            )
            if repeat > 1:
                keys, values = keys.repeat_interleave(repeat, dim=1), values.repeat_interleave(repeat, dim=1)
            attn = F.scaled_dot_product_attention(
                qk[:, :heads],
                keys,
                values,
                attn_mask=attn_mask,
                scale=self.scale,
                enable_gqa=kv_heads != heads and repeat == 1,
            )
            x = x + F.linear(attn.transpose(1, 2).reshape(batch, new, heads * dim), wo, bo)
            gu = F.linear(self._rms(x, ln2), wgu)
            x = x + F.linear(F.silu(gu[..., : self.intermediate]) * gu[..., self.intermediate :], wd)
        if keep:
            x = x[:, -keep:]
        return F.linear(self._rms(x, w.norm), w.lm_head)

    @torch.inference_mode()
    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache: KVCache, keep: int = 1
    ) -> torch.Tensor:
        """Logits (batch, keep, vocab) of the last `keep` of the new tokens `ids` (batch, new) at
        positions `pos`, attending to the cache's columns and to each other causally where `mask`
        (batch, cached + new; 1 on real tokens) allows. The new keys and values join the cache."""
        if self.weights is None:
            self.refresh()
        past, new = cache.length, ids.shape[1]
        total = past + new
        cache.reserve(new)

        def attend(layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            kbuf, vbuf = cache.keys[layer], cache.values[layer]
            kbuf.narrow(2, past, new).copy_(keys)
            vbuf.narrow(2, past, new).copy_(values)
            return kbuf.narrow(2, 0, total), vbuf.narrow(2, 0, total)

        logits = self._compute(self.weights, ids, mask, pos, past, keep, attend)
        cache.length = total
        return logits


@dataclass
class _Past:
    layers: list[_LayerView]


@dataclass
class _Output:
    logits: torch.Tensor
    past_key_values: _Past | None = None


class LlamaTrainForward(torch.nn.Module):
    """A stand-in for a plain Llama-family model's call (`LlamaRunner.supports`) where gradients are
    needed (the trainers' log-probabilities): the same arguments (`input_ids`, `attention_mask`,
    `position_ids`, `past_key_values` holding `layers[i].keys/values`, `use_cache`, `logits_to_keep`),
    the same logits and gradients, through `LlamaRunner`'s ops: about half the autograd nodes of
    transformers' modules (fused q/k/v and gate/up products, one RMSNorm kernel, one rotary pass
    for q and k). Its parameters are the model's."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        if not self.supports(model):
            raise ValueError(
                "LlamaTrainForward needs a plain LlamaForCausalLM or Qwen2ForCausalLM without dropout or checkpointing"
            )
        self.model = model
        self.runner = LlamaRunner(model)

    @staticmethod
    def supports(model: torch.nn.Module) -> bool:
        """A model `LlamaRunner` supports, without attention dropout or activation checkpointing."""
        if not LlamaRunner.supports(model) or float(getattr(model.config, "attention_dropout", 0.0) or 0.0) != 0.0:
            return False
        name = (
            "is_activation_checkpointing"
            if hasattr(type(model), "is_activation_checkpointing")
            else "is_gradient_checkpointing"
        )
        return not getattr(model, name, False)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
    ) -> _Output:
        past = [
            (layer.keys, layer.values)
            for layer in getattr(past_key_values, "layers", None) or []
            if getattr(layer, "keys", None) is not None and layer.keys.numel()
        ]
        past_len = past[0][0].shape[-2] if past else 0
        batch, new = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones((batch, past_len + new), dtype=torch.long, device=input_ids.device)
        if position_ids is None:
            position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, past_len:]
        kept: list[_LayerView] = []

        def attend(layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if past:
                keys, values = torch.cat([past[layer][0], keys], dim=2), torch.cat([past[layer][1], values], dim=2)
            kept.append(_LayerView(keys, values))
            return keys, values

        logits = self.runner._compute(
            self.runner._gather_weights(), input_ids, attention_mask, position_ids, past_len, logits_to_keep, attend
        )
        return _Output(logits=logits, past_key_values=_Past(kept) if use_cache else None)
