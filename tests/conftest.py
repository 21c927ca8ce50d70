"""Test settings shared by the whole suite: offline, headless, one torch thread."""

import os

import pytest

for key, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "MUJOCO_GL": "egl",
    "SDL_VIDEODRIVER": "dummy",
    "RAY_AUTH_MODE": "disabled",
    # specs/llm/real point at ${env:MODEL_PATH}; the shipped-spec checks validate them against this
    "MODEL_PATH": "/models/placeholder",
}.items():
    os.environ.setdefault(key, value)

import torch  # noqa: E402
from loguru import logger  # noqa: E402

torch.set_num_threads(1)
# rldojo is silent as a library until an application turns its logging on (importing it turns it
# off, so import it first); the tests read its logs.
import rldojo  # noqa: E402,F401

logger.enable("rldojo")


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory):
    """Tokenizers the tests build for tiny language models go to a temporary cache, not the user's."""
    old = os.environ.get("RLDOJO_CACHE")
    os.environ["RLDOJO_CACHE"] = str(tmp_path_factory.mktemp("rldojo-cache"))
    yield
    if old is None:
        os.environ.pop("RLDOJO_CACHE", None)
    else:
        os.environ["RLDOJO_CACHE"] = old
