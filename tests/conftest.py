"""Test settings shared by the whole suite: offline, headless, one torch thread."""

import os

for key, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "MUJOCO_GL": "egl",
    "SDL_VIDEODRIVER": "dummy",
    "RAY_AUTH_MODE": "disabled",
}.items():
    os.environ.setdefault(key, value)

import torch  # noqa: E402
from loguru import logger  # noqa: E402

torch.set_num_threads(1)
# rldojo is silent as a library until an application turns its logging on; the tests read its logs.
logger.enable("rldojo")
