"""Tiny models for the language-model tests, built locally in a few seconds (no downloads)."""

from __future__ import annotations

import pytest

from rldojo.llm.config import TinyModelSettings

#: Smaller than rldojo's default tiny model: tests need a model, not a good one.
TEST_TINY = {
    "vocab_size": 400,
    "hidden_size": 32,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "corpus_episodes": 30,
}


@pytest.fixture(scope="session")
def textcraft_tokenizer(tiny_cache):
    import gymnasium as gym

    from rldojo.llm.prompts import make_template
    from rldojo.llm.tiny import tiny_tokenizer_dir

    template = make_template("act", None, True, single_turn=False)
    folder = tiny_tokenizer_dir(
        TinyModelSettings(**TEST_TINY),
        "test-textcraft",
        env_factory=lambda: gym.make("dojo/TextCraft-v0", depths=(1,)),
        accept_task=lambda t: True,
        extra_text=[template.system],
        user_text=lambda obs, info: template.user_message(obs, info["available_actions"]),
        reply_text=template.write_action,
    )
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


@pytest.fixture()
def tiny_lm(textcraft_tokenizer):
    """A fresh LanguageModel (random tiny weights, seed 0) with the TextCraft tokenizer."""
    from rldojo.llm.chat import ChatFormat
    from rldojo.llm.model import LanguageModel
    from rldojo.llm.tiny import tiny_model

    model = tiny_model(TinyModelSettings(**TEST_TINY), textcraft_tokenizer, seed=0)
    return LanguageModel(
        model=model,
        tokenizer=textcraft_tokenizer,
        chat=ChatFormat.for_tokenizer(textcraft_tokenizer),
        max_model_len=1024,
    )
