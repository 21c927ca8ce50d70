"""Observation encoders: raw observation batch -> feature vector, picked by `net.type`.

- `mlp` on flat spaces: the observation as it is (Box flattened, Discrete one-hot by `encode_obs`);
  on images: pixels flattened and scaled to [0, 1].
- `cnn`: the Nature CNN (Mnih et al., 2015) on uint8 images, scaled by 1/255 inside the net:
  32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1 (ReLU each), then a `cnn_features`-unit ReLU
  layer (512 in the paper).
- `auto` (default): `cnn` for image observations, `mlp` otherwise.

Image observations are uint8 Boxes of 2 (H, W) or 3 dimensions, channels first (C, H, W) as
frame stacking gives, or channels last (H, W, C) with C <= 4 (raw RGB); they are kept as uint8
in buffers (a quarter of float32 memory) and converted on the way into the net.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rldojo.config import NetConfig
from rldojo.nets.mlp import flat_obs_dim, is_image_space, orthogonal_init

__all__ = ["FlatEncoder", "NatureCNN", "is_image_space", "make_encoder", "net_type", "obs_storage"]


def net_type(space: gym.Space, cfg: NetConfig) -> str:
    """`cfg.type` with `auto` resolved for this observation space; `cnn` on non-images is refused."""
    if cfg.type == "auto":
        return "cnn" if is_image_space(space) else "mlp"
    if cfg.type == "cnn" and not is_image_space(space):
        raise TypeError(
            f"net.type cnn takes uint8 image observations (a Box of shape (C, H, W), (H, W) or "
            f"(H, W, C)), got {space}; use net.type mlp (or auto) for this env."
        )
    return cfg.type


def obs_storage(space: gym.Space) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one encoded observation in buffers: images as uint8, the rest flat float32."""
    if is_image_space(space):
        return tuple(space.shape), np.dtype(np.uint8)
    return (flat_obs_dim(space),), np.dtype(np.float32)


def _channels_first_shape(shape: tuple[int, ...]) -> tuple[tuple[int, int, int], bool]:
    """(C, H, W) of an image shape, and whether it must be permuted from channels-last."""
    if len(shape) == 2:
        return (1, shape[0], shape[1]), False
    if shape[-1] <= 4 < shape[0]:
        return (shape[2], shape[0], shape[1]), True
    return (shape[0], shape[1], shape[2]), False


class NatureCNN(nn.Module):
    """uint8 images [B, *shape] -> features [B, cnn_features] (Mnih et al., 2015)."""

    def __init__(self, space: gym.spaces.Box, features: int = 512) -> None:
        super().__init__()
        (channels, height, width), self.channels_last = _channels_first_shape(tuple(space.shape))
        self.add_channel = len(space.shape) == 2
        self.convs = nn.Sequential(
            _conv(channels, 32, 8, 4),
            nn.ReLU(),
            _conv(32, 64, 4, 2),
            nn.ReLU(),
            _conv(64, 64, 3, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            conv_out = self.convs(torch.zeros(1, channels, height, width)).shape[1]
        if conv_out == 0:
            raise TypeError(f"images of shape {space.shape} are too small for the Nature CNN (needs at least 36x36)")
        self.fc = nn.Sequential(orthogonal_init(nn.Linear(conv_out, features), math.sqrt(2)), nn.ReLU())
        self.out_dim = features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0
        if self.add_channel:
            x = x.unsqueeze(1)
        elif self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.fc(self.convs(x))


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride)
    nn.init.orthogonal_(conv.weight, math.sqrt(2))
    nn.init.zeros_(conv.bias)
    return conv


class FlatEncoder(nn.Module):
    """Flat observations as they are; images flattened and scaled to [0, 1]."""

    def __init__(self, space: gym.Space) -> None:
        super().__init__()
        self.out_dim = flat_obs_dim(space)
        self.image = is_image_space(space)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.image:
            return obs.reshape(obs.shape[0], -1).float() / 255.0
        return obs


def make_encoder(space: gym.Space, cfg: NetConfig) -> NatureCNN | FlatEncoder:
    """The encoder `cfg` asks for on this observation space (`auto` resolved); `.out_dim` is its width."""
    if net_type(space, cfg) == "cnn":
        return NatureCNN(space, cfg.cnn_features)
    return FlatEncoder(space)
