import torch

from rldojo.llm.batch import make_batch, token_logprobs
from rldojo.llm.rollout import EpisodeBuilder


def _episode(lm, prompt: str, replies: list[str]):
    builder = EpisodeBuilder(lm.chat.prompt_ids(None, prompt))
    for i, reply in enumerate(replies):
        if i:
            builder.add_context(lm.chat.turn_ids(f"turn {i}", reply_closed=True))
        builder.add_reply(lm.chat.reply_ids(reply))
    return builder.episode


def _plain_logprobs(model, ep) -> list[float]:
    with torch.no_grad():
        logits = model(torch.tensor([ep.token_ids])).logits[0].float()
    lp = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ep.token_ids[1:])[:, None]).squeeze(-1)
    return [0.0] + lp.tolist()


def test_padded_batches_give_each_episode_its_own_logprobs(tiny_lm):
    episodes = [
        _episode(tiny_lm, "Goal: craft red dye.", ["Action: get 1 poppy"]),
        _episode(tiny_lm, "Goal: a much longer goal " * 3, ["Action: inventory", "Action: get 2 stick"]),
        _episode(tiny_lm, "hi", ["x"]),
    ]
    batch = make_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    with torch.no_grad():
        logp, _ = token_logprobs(tiny_lm.model, batch)
    per_episode = batch.unpad(logp, [len(ep) for ep in episodes])
    for ep, got in zip(episodes, per_episode):
        expected = _plain_logprobs(tiny_lm.model, ep)
        trained = [i for i, m in enumerate(ep.mask) if m]
        torch.testing.assert_close(
            torch.tensor([got[i] for i in trained]), torch.tensor([expected[i] for i in trained]), atol=1e-4, rtol=0
        )


def test_a_shared_prompt_runs_once_with_the_same_values_and_gradients(tiny_lm):
    prompts = ["Goal: craft red dye.", "Goal: craft sea lantern now."]
    episodes = [
        _episode(tiny_lm, prompts[i % 2], [f"Action: get {i} poppy", "Action: inventory"][: 1 + i % 2])
        for i in range(6)
    ]
    batch = make_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    results = []
    for share in (False, True):
        tiny_lm.model.zero_grad()
        logp, entropy = token_logprobs(tiny_lm.model, batch, temperature=0.7, with_entropy=True, share_prefix=share)
        (logp * batch.mask).sum().backward()
        grads = [p.grad.clone() for p in tiny_lm.model.parameters()]
        results.append((logp.detach(), entropy, grads))
    (lp0, ent0, g0), (lp1, ent1, g1) = results
    mask = batch.mask.bool()
    torch.testing.assert_close(lp1[mask], lp0[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent1[mask], ent0[mask], atol=1e-5, rtol=1e-5)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
