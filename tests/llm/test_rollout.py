import gymnasium as gym
import pytest
import torch

from rldojo.errors import UserError
from rldojo.llm.generate import HFBackend, SamplingParams
from rldojo.llm.prompts import make_template
from rldojo.llm.rollout import Actor, EpisodeBuilder, demonstration, episode_metrics, play
from rldojo.llm.tasks import EpisodeStart, TaskStream, is_held_out


def test_two_turn_episode_ids_match_the_chat_template_and_the_mask_covers_only_replies(tiny_lm):
    chat, tok = tiny_lm.chat, tiny_lm.tokenizer
    system, obs1, obs2 = "Be brief.", "Goal: craft red dye.", "Got 1 poppy."
    reply1, reply2 = "Action: get 1 poppy", "Action: craft 1 red dye using 1 poppy"
    builder = EpisodeBuilder(chat.prompt_ids(system, obs1))
    builder.add_reply(chat.reply_ids(reply1))
    builder.add_context(chat.turn_ids(obs2, reply_closed=True))
    builder.add_reply(chat.reply_ids(reply2))
    ep = builder.episode

    # The same conversation rendered whole by the tokenizer's chat template, tokenized once.
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": obs1},
        {"role": "assistant", "content": reply1},
        {"role": "user", "content": obs2},
        {"role": "assistant", "content": reply2},
    ]
    whole = tok(tok.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]
    assert ep.token_ids == whole

    # Mask: 1 exactly on each reply's tokens and its closing <|end|>, 0 on everything else.
    end, assistant = tok.convert_tokens_to_ids("<|end|>"), tok.convert_tokens_to_ids("<|assistant|>")
    headers = [i for i, t in enumerate(whole) if t == assistant]
    closers = [i for i, t in enumerate(whole) if t == end]
    r1 = tok(reply1, add_special_tokens=False)["input_ids"]
    r2 = tok(reply2, add_special_tokens=False)["input_ids"]
    expected = [0] * len(whole)
    for header, reply in zip(headers, (r1, r2)):
        for i in range(header + 1, header + 1 + len(reply) + 1):  # reply tokens and <|end|>
            expected[i] = 1
    assert ep.mask == expected
    assert sum(ep.mask) == len(r1) + len(r2) + 2 and whole[-1] == end and closers[-1] == len(whole) - 1
    assert ep.turn_spans == [(headers[0] + 1, headers[0] + 2 + len(r1)), (headers[1] + 1, len(whole))]


class RecordingBackend(HFBackend):
    """Records every context it is asked to continue."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[list[list[int]]] = []

    def generate(self, prompts, params, generator=None, cache_keys=None):
        self.seen.append([list(p) for p in prompts])
        return super().generate(prompts, params, generator, cache_keys)


def _actor(lm, backend, max_model_len=1024, **kw):
    return Actor(
        backend=backend,
        chat=lm.chat,
        template=make_template("act", None, True, False),
        max_model_len=max_model_len,
        **kw,
    )


def test_earlier_turns_keep_their_token_ids_as_later_turns_are_appended(tiny_lm):
    backend = RecordingBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    actor = _actor(tiny_lm, backend)
    envs = [gym.make("dojo/TextCraft-v0", depths=(1,), max_turns=4) for _ in range(3)]
    starts = [EpisodeStart(seed=s, task_id=t) for s, t in [(1, 5), (2, 5), (3, 9), (4, 11)]]
    params = SamplingParams(temperature=1.0, max_new_tokens=12, stop_ids=frozenset(tiny_lm.chat.stop_ids))
    episodes = play(actor, envs, starts, params, torch.Generator().manual_seed(0))
    assert len(episodes) == 4 and all(ep.turns >= 1 for ep in episodes)
    # One batched generate per turn over every live env: 3 envs answered together at first.
    assert len(backend.seen[0]) == 3
    # Every context the model saw is a prefix of the final episode it belongs to.
    finals = [ep.token_ids for ep in episodes]
    for batch in backend.seen:
        for context in batch:
            assert any(final[: len(context)] == context for final in finals)
    for ep in episodes:
        assert len(ep.mask) == len(ep.token_ids) == len(ep.logprobs)
        for start, stop in ep.turn_spans:
            assert all(ep.mask[start:stop]) and all(lp <= 0 for lp in ep.logprobs[start:stop])
        assert sum(ep.mask) == sum(stop - start for start, stop in ep.turn_spans)
    metrics = episode_metrics(episodes)
    assert metrics["turns"] == sum(ep.turns for ep in episodes) / 4
    assert sum(
        metrics[f"parse_{s}"]
        for s in ("marker", "exact", "case_insensitive", "substring", "fuzzy", "fallback", "none", "raw")
    ) == pytest.approx(1.0)


def test_a_context_over_max_model_len_ends_the_episode_as_truncated(tiny_lm):
    env = gym.make("dojo/TextCraft-v0", depths=(1,), max_turns=10)
    probe = _actor(tiny_lm, HFBackend(tiny_lm.model, tiny_lm.tokenizer))
    prompt_len = len(probe.prompt(*env.reset(seed=0, options={"task_id": 5})))
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    actor = _actor(tiny_lm, backend, max_model_len=prompt_len + 30, parse_fallback=True)
    params = SamplingParams(temperature=1.0, max_new_tokens=8, stop_ids=frozenset(tiny_lm.chat.stop_ids))
    (ep,) = play(actor, [env], [EpisodeStart(seed=0, task_id=5)], params, torch.Generator().manual_seed(1))
    assert ep.context_full and ep.truncated and not ep.won
    assert len(ep) <= prompt_len + 30 and ep.turns < 10


def test_an_observation_that_overflows_the_context_is_a_clear_error(tiny_lm):
    env = gym.make("dojo/TextCraft-v0", depths=(1,))
    actor = _actor(tiny_lm, HFBackend(tiny_lm.model, tiny_lm.tokenizer), max_model_len=40)
    with pytest.raises(UserError, match="max_model_len=40.*Raise"):
        play(actor, [env], [EpisodeStart(seed=0, task_id=5)], SamplingParams(max_new_tokens=8))


def test_choose_mode_only_plays_available_actions(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    actor = _actor(tiny_lm, backend, action_mode="choose")
    envs = [gym.make("dojo/TextCraft-v0", depths=(1,), max_turns=3) for _ in range(2)]
    episodes = play(
        actor,
        envs,
        [EpisodeStart(seed=s, task_id=7) for s in range(2)],
        SamplingParams(temperature=1.0, max_new_tokens=8),
        torch.Generator().manual_seed(0),
    )
    assert all(ep.invalid_actions == 0 for ep in episodes)
    for ep in episodes:
        for (start, stop), action in zip(ep.turn_spans, ep.actions):
            assert ep.token_ids[start:stop] == tiny_lm.chat.reply_ids(f"Action: {action}")


def test_expert_demonstrations_are_laid_out_like_rollouts(tiny_lm):
    env = gym.make("dojo/TextCraft-v0", depths=(1,))
    actor = _actor(tiny_lm, HFBackend(tiny_lm.model, tiny_lm.tokenizer))
    ep = demonstration(actor, env, EpisodeStart(seed=0, task_id=5))
    assert ep.won and ep.turns >= 1
    text = tiny_lm.tokenizer.decode([t for t, m in zip(ep.token_ids, ep.mask) if m], skip_special_tokens=True)
    assert text.replace("Action: ", "\n").split() == " ".join(ep.actions).split()


def test_task_split_is_a_fixed_function_of_the_task_id():
    held = [t for t in range(2000) if is_held_out(t, 0.1)]
    assert 150 < len(held) < 250 and held == [t for t in range(2000) if is_held_out(t, 0.1)]
    env = gym.make("dojo/TextCraft-v0", depths=(1,))
    train = TaskStream(env, held_out=False, fraction=0.1, seed=0)
    evals = TaskStream(env, held_out=True, fraction=0.1, seed=0)
    train_ids = {train.next().task_id for _ in range(30)}
    eval_ids = {evals.next().task_id for _ in range(10)}
    assert not train_ids & eval_ids and all(is_held_out(t, 0.1) for t in eval_ids)
    groups = TaskStream(env, held_out=False, fraction=0.1, seed=0).groups(2, 3)
    assert [s.group for s in groups] == [0, 0, 0, 1, 1, 1] and len({s.seed for s in groups}) == 6
    assert len({s.task_id for s in groups[:3]}) == 1
