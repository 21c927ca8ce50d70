import json

import pytest
import torch
from loguru import logger

from rldojo.errors import UserError
from rldojo.llm.config import LoraSettings, ModelConfig
from rldojo.llm.model import LanguageModel, load_language_model

from .conftest import TEST_TINY


def _logits(lm, text="Goal: craft red dye."):
    ids = torch.tensor([lm.chat.prompt_ids(None, text)])
    with torch.no_grad():
        return lm.model(ids).logits


def _randomize_adapters(lm, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lm.model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)


def test_lora_adapters_train_alone_and_round_trip_through_save_and_load(tiny_lm, tmp_path):
    from rldojo.llm.config import TinyModelSettings
    from rldojo.llm.tiny import tiny_model

    base_logits = _logits(tiny_lm)
    tiny_lm.add_adapters(LoraSettings(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in tiny_lm.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    _randomize_adapters(tiny_lm)
    adapted = _logits(tiny_lm)
    assert not torch.allclose(adapted, base_logits, atol=1e-4)
    tiny_lm.save_adapters(tmp_path / "adapters")
    assert (tmp_path / "adapters" / "adapter_config.json").is_file()

    fresh = LanguageModel(
        model=tiny_model(TinyModelSettings(**TEST_TINY), tiny_lm.tokenizer, seed=0),
        tokenizer=tiny_lm.tokenizer,
        chat=tiny_lm.chat,
        max_model_len=1024,
    )
    torch.testing.assert_close(_logits(fresh), base_logits)
    fresh.load_adapters(tmp_path / "adapters")
    torch.testing.assert_close(_logits(fresh), adapted, atol=1e-5, rtol=1e-5)
    assert any(p.requires_grad for p in fresh.model.parameters())

    with tiny_lm.reference_context():  # adapters off: the base model
        torch.testing.assert_close(_logits(tiny_lm), base_logits, atol=1e-5, rtol=1e-5)
    tiny_lm.merge_adapters()
    assert not tiny_lm.has_adapters
    torch.testing.assert_close(_logits(tiny_lm), adapted, atol=1e-4, rtol=1e-4)


def test_a_saved_model_folder_loads_with_its_chat_template(tiny_lm, tmp_path):
    tiny_lm.export(tmp_path / "m")
    lm = load_language_model(ModelConfig(path=str(tmp_path / "m"), max_model_len=512), seed=0)
    assert not lm.chat.plain
    torch.testing.assert_close(_logits(lm), _logits(tiny_lm))
    with_lora = load_language_model(
        ModelConfig(
            path=str(tmp_path / "m"),
            max_model_len=512,
            lora={"r": 2, "alpha": 4, "target_modules": ["q_proj", "v_proj"]},
        ),
        seed=0,
    )
    names = [n for n, p in with_lora.model.named_parameters() if p.requires_grad]
    assert names and all(("q_proj" in n or "v_proj" in n) and "lora_" in n for n in names)


def test_a_tokenizer_without_chat_template_falls_back_to_plain_and_says_so(tiny_lm, tmp_path):
    tiny_lm.export(tmp_path / "m")
    config_path = tmp_path / "m" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    (tmp_path / "m" / "chat_template.jinja").unlink(missing_ok=True)
    messages = []
    sink = logger.add(lambda m: messages.append(str(m)), level="INFO")
    try:
        lm = load_language_model(ModelConfig(path=str(tmp_path / "m"), max_model_len=512), seed=0)
    finally:
        logger.remove(sink)
    assert lm.chat.plain and any("no chat template" in m and "plain" in m for m in messages)
    text = lm.tokenizer.decode(lm.chat.prompt_ids("Be brief.", "Goal: x"))
    assert text.endswith("System: Be brief.\n\nUser: Goal: x\n\nAssistant:")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no config.json"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "is a file"),
    ],
)
def test_a_path_that_is_not_a_model_is_a_clear_error(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        load_language_model(ModelConfig(path=str(make(tmp_path))), seed=0)


def test_asking_for_more_context_than_the_model_has_is_a_clear_error(tiny_lm, tmp_path):
    tiny_lm.export(tmp_path / "m")
    with pytest.raises(UserError, match=r"max_model_len=4096 asks for more context.*1024 tokens"):
        load_language_model(ModelConfig(path=str(tmp_path / "m"), max_model_len=4096), seed=0)
    no_weights = tmp_path / "m2"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((tmp_path / "m" / "config.json").read_text())
    with pytest.raises(UserError, match="no weights"):
        load_language_model(ModelConfig(path=str(no_weights)), seed=0)
