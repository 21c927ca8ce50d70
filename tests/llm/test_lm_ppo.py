"""lm_ppo: GAE over tokens and turns, the clipped losses by hand, the critic's forward, and a stage
that learns a one-turn choice and resumes mid-stage."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rldojo.algos.lm_ppo import LMPPOParams, LMPPOTrainer, TrunkForward, episode_advantages, gae, ppo_loss, top_groups
from rldojo.envs.text.protocol import TextEnv, WorldStep
from rldojo.errors import SpecError
from rldojo.run.spec import spec_from_raw

from .test_sft import build, lm_spec

# ---- GAE ----------------------------------------------------------------------------------------
# Ten tokens: prompt 0-2, reply 1 at 3-4, env text 5-6, reply 2 at 7-9. Values off the replies are
# junk (99) that must never be read.
SPANS = [(3, 5), (7, 10)]
TURN_REWARDS = [0.5, 1.0]
VALUES = np.array([99, 99, 99, 0.2, 0.4, 99, 99, 0.1, 0.3, 0.5])
GAMMA, LAM = 0.9, 0.8  # gamma * lam = 0.72


def test_gae_of_a_terminal_sequence_by_hand():
    adv, ret = gae(np.array([0.0, 1.0]), np.array([0.5, 0.25]), gamma=0.5, lam=0.5)
    # delta_1 = 1 - .25 = .75 ; delta_0 = 0 + .5 * .25 - .5 = -.375 ; A_0 = -.375 + .25 * .75
    np.testing.assert_allclose(adv, [-0.1875, 0.75])
    np.testing.assert_allclose(ret, [0.3125, 1.0])


def test_token_level_gae_skips_env_tokens_and_puts_each_turn_reward_on_its_last_token():
    adv, ret, vmask = episode_advantages(SPANS, TURN_REWARDS, VALUES, "token", GAMMA, LAM)
    # over tokens 3, 4, 7, 8, 9: V = .2 .4 .1 .3 .5, r = 0 .5 0 0 1
    # delta_9 = 1 - .5 = .5                 A_9 = .5
    # delta_8 = .9 * .5 - .3 = .15          A_8 = .15 + .72 * .5 = .51
    # delta_7 = .9 * .3 - .1 = .17          A_7 = .17 + .72 * .51 = .5372
    # delta_4 = .5 + .9 * .1 - .4 = .19     A_4 = .19 + .72 * .5372 = .576784
    # delta_3 = .9 * .4 - .2 = .16          A_3 = .16 + .72 * .576784 = .57528448
    expected = np.zeros(10)
    expected[[3, 4, 7, 8, 9]] = [0.57528448, 0.576784, 0.5372, 0.51, 0.5]
    np.testing.assert_allclose(adv, expected, atol=1e-12)
    on = vmask.astype(bool)
    assert on.tolist() == [False] * 3 + [True] * 2 + [False] * 2 + [True] * 3
    np.testing.assert_allclose(ret[on], expected[on] + VALUES[on], atol=1e-12)
    assert (adv[~on] == 0).all() and (ret[~on] == 0).all()

    # A per-token reward (the KL penalty) joins each token's reward: only delta changes.
    penalty = np.where(on, -0.1, 0.0)
    adv_kl, _, _ = episode_advantages(SPANS, TURN_REWARDS, VALUES, "token", GAMMA, LAM, penalty)
    discounted = [sum(0.72**k for k in range(n)) for n in (5, 4, 3, 2, 1)]  # sum of -.1 * (gamma lam)^k
    np.testing.assert_allclose(adv_kl[on] - adv[on], [-0.1 * d for d in discounted], atol=1e-12)


def test_turn_level_gae_gives_each_token_its_turns_advantage_and_one_value_per_turn():
    adv, ret, vmask = episode_advantages(SPANS, TURN_REWARDS, VALUES, "turn", GAMMA, LAM)
    # V_1 = V at token 4 = .4, V_2 = V at token 9 = .5
    # delta_2 = 1 - .5 = .5 -> A_2 = .5 ; delta_1 = .5 + .9 * .5 - .4 = .55 -> A_1 = .55 + .72 * .5 = .91
    expected = np.zeros(10)
    expected[[3, 4]] = 0.91
    expected[[7, 8, 9]] = 0.5
    np.testing.assert_allclose(adv, expected, atol=1e-12)
    assert np.flatnonzero(vmask).tolist() == [4, 9]
    np.testing.assert_allclose(ret[[4, 9]], [1.31, 1.0], atol=1e-12)

    # The turn's reward takes the sum of its tokens' penalties.
    penalty = np.zeros(10)
    penalty[[3, 4, 7, 8, 9]] = -0.1
    adv_kl, _, _ = episode_advantages(SPANS, TURN_REWARDS, VALUES, "turn", GAMMA, LAM, penalty)
    # r_1 = .5 - .2, r_2 = 1 - .3: A_2 = .7 - .5 = .2 ; delta_1 = .3 + .9 * .5 - .4 = .35, A_1 = .35 + .72 * .2
    np.testing.assert_allclose(adv_kl[[3, 7]], [0.494, 0.2], atol=1e-12)


def test_an_empty_reply_gives_its_reward_to_the_previous_reply():
    spans = [(3, 5), (7, 7), (9, 10)]
    a, _, _ = episode_advantages(spans, [0.25, 0.25, 1.0], VALUES, "token", GAMMA, LAM)
    b, _, _ = episode_advantages([(3, 5), (9, 10)], [0.5, 1.0], VALUES, "token", GAMMA, LAM)
    np.testing.assert_allclose(a, b)


def test_the_filter_keeps_the_groups_whose_rewards_vary_most():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.5, 0.0]])
    assert top_groups(rewards, 0.4) == [1, 3]  # the two with std 0.577 (ties keep both here)
    assert top_groups(rewards, 0.2) == [1]  # a tie keeps the earlier group
    assert top_groups(rewards, 0.01) == [1]  # at least one group
    assert top_groups(rewards, 1.0) == [0, 1, 2, 3, 4]


# ---- the losses by hand ---------------------------------------------------------------------------
def _value_case():
    values = torch.tensor([[0.5, 0.1, 1.5, 9.0]], requires_grad=True)
    old = torch.tensor([[0.2, 0.2, 1.0, 0.0]])
    returns = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    vmask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last token carries no value
    zeros = torch.zeros(1, 4)
    return values, old, returns, vmask, zeros


def test_the_clipped_value_loss_by_hand():
    values, old, returns, vmask, zeros = _value_case()
    # token 0: V - V_old = .3 clipped to .2 -> V_c = .4: max((.5 - 1)^2, (.4 - 1)^2) = .36 (the clipped one)
    # token 1: inside the clip: (.1 - 0)^2 = .01
    # token 2: V - V_old = .5 -> V_c = 1.2: max(1.5^2, 1.2^2) = 2.25 (the unclipped one)
    loss, terms = ppo_loss(zeros, zeros, zeros, vmask, values, old, returns, vmask, 0.2, 0.28, 0.5, value_clip=0.2)
    assert float(terms["value_loss"]) == pytest.approx(0.5 * (0.36 + 0.01 + 2.25) / 3)
    assert float(loss.detach()) == pytest.approx(0.5 * 0.5 * (0.36 + 0.01 + 2.25) / 3)  # no policy term: A = 0
    assert (terms["value_clipped"] * vmask).tolist() == [[1.0, 0.0, 1.0, 0.0]]
    loss.backward()
    # token 0 takes the clipped branch, whose gradient is cut; the others: vf_coef * (V - G) / 3
    torch.testing.assert_close(values.grad, torch.tensor([[0.0, 0.5 * 0.1 / 3, 0.5 * 1.5 / 3, 0.0]]))

    plain_values = values.detach().clone().requires_grad_(True)
    _, plain = ppo_loss(zeros, zeros, zeros, vmask, plain_values, old, returns, vmask, 0.2, 0.28, 0.5, None)
    assert float(plain["value_loss"]) == pytest.approx(0.5 * (0.25 + 0.01 + 2.25) / 3)
    assert not plain["value_clipped"].any()


def test_the_policy_loss_and_its_low_and_high_clip_fractions_by_hand():
    ratio = torch.tensor([[1.4, 1.25, 0.7, 0.7, 1.4, 2.0]])
    adv = torch.tensor([[1.0, 1.0, -1.0, 1.0, -1.0, 1.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])  # the last token is not the model's
    logp = torch.log(ratio).requires_grad_(True)
    old = torch.zeros(1, 6)
    values = torch.zeros(1, 6)
    # clip range [.8, 1.28]:
    #   1.4, A>0: min(1.4, 1.28) -> -1.28, clipped high   | 1.25, A>0: -1.25, inside
    #   0.7, A<0: min(-.7, -.8) -> .8, clipped low          | 0.7, A>0: min(.7, .8) -> -.7, the clip does not bind
    #   1.4, A<0: min(-1.4, -1.28) -> 1.4, does not bind    | masked token: left out
    loss, terms = ppo_loss(logp, old, adv, mask, values, values, values, mask, 0.2, 0.28, 0.5, 0.2)
    assert float(terms["policy_loss"]) == pytest.approx((-1.28 - 1.25 + 0.8 - 0.7 + 1.4) / 5)
    assert float(loss.detach()) == pytest.approx((-1.28 - 1.25 + 0.8 - 0.7 + 1.4) / 5)
    assert (terms["clipped_low"] & mask.bool()).tolist() == [[False, False, True, False, False, False]]
    assert (terms["clipped_high"] & mask.bool()).tolist() == [[True, False, False, False, False, False]]
    low = float((terms["clipped_low"] * mask).sum() / mask.sum())
    high = float((terms["clipped_high"] * mask).sum() / mask.sum())
    assert (low, high) == (pytest.approx(0.2), pytest.approx(0.2))
    loss.backward()
    # d/dlogp of -r * A = -r * A / tokens where the clip does not bind, 0 where it does
    expected = torch.tensor([[0.0, -1.25, 0.0, -0.7, 1.4, 0.0]]) / 5
    torch.testing.assert_close(logp.grad, expected)
    # approx_kl = (r - 1) - log r
    torch.testing.assert_close(terms["approx_kl"], ratio - 1 - torch.log(ratio))


def test_entropy_bonus_and_kl_loss_terms_join_the_token_mean():
    logp = torch.log(torch.tensor([[0.5, 0.25]]))
    ref = torch.log(torch.tensor([[0.25, 0.25]]))
    mask, zeros, entropy = torch.ones(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, 3.0]])
    base, _ = ppo_loss(logp, logp, zeros, mask, zeros, zeros, zeros, mask, 0.2, 0.28, 0.5, None)
    extra, _ = ppo_loss(
        logp, logp, zeros, mask, zeros, zeros, zeros, mask, 0.2, 0.28, 0.5, None, 0.1, entropy, 0.5, ref
    )
    k3 = (0.5 - math.log(0.5) - 1) + 0.0  # exp(ref - logp) - (ref - logp) - 1 with ref/p = .5, then 1
    assert float(extra - base) == pytest.approx(-0.1 * (1 + 3) / 2 + 0.5 * k3 / 2)


def test_micro_batches_with_minibatch_normalisers_add_up_to_the_whole():
    torch.manual_seed(0)
    logp, old, adv = torch.randn(3, 5) * 0.1, torch.randn(3, 5) * 0.1, torch.randn(3, 5)
    values, v_old, ret = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    mask = (torch.rand(3, 5) > 0.3).float()
    vmask = mask * (torch.rand(3, 5) > 0.5).float()
    args = (0.2, 0.28, 0.5, 0.2)
    whole, _ = ppo_loss(logp, old, adv, mask, values, v_old, ret, vmask, *args)
    tokens, value_tokens = float(mask.sum()), float(vmask.sum())
    parts = sum(
        ppo_loss(
            logp[i : i + 1], old[i : i + 1], adv[i : i + 1], mask[i : i + 1], values[i : i + 1], v_old[i : i + 1],
            ret[i : i + 1], vmask[i : i + 1], *args, tokens=tokens, value_tokens=value_tokens,
        )[0]
        for i in range(3)
    )  # fmt: skip
    assert float(parts) == pytest.approx(float(whole), rel=1e-6)


# ---- the critic's forward -------------------------------------------------------------------------
def test_the_lean_forward_gives_the_same_logits_and_hidden_states_as_transformers(tiny_lm):
    from rldojo.llm.batch import make_batch
    from rldojo.llm.rollout import EpisodeBuilder

    episodes = []
    for prompt, replies in (("Goal: craft red dye.", ["Action: get 1 poppy"]), ("hi", ["x", "Action: inventory"])):
        builder = EpisodeBuilder(tiny_lm.chat.prompt_ids(None, prompt))
        for i, reply in enumerate(replies):
            if i:
                builder.add_context(tiny_lm.chat.turn_ids("ok", reply_closed=True))
            builder.add_reply(tiny_lm.chat.reply_ids(reply))
        episodes.append(builder.episode)
    batch = make_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    model = tiny_lm.model
    lean = TrunkForward(model)
    assert lean.fast is not None
    logits, hidden = lean(batch)
    out = model(
        input_ids=batch.ids, attention_mask=batch.attention, position_ids=batch.positions, output_hidden_states=True
    )
    mask = batch.mask.bool()
    span = slice(batch.start - 1, -1)
    torch.testing.assert_close(logits[mask], out.logits[:, span][mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hidden[mask], out.hidden_states[-1][:, span][mask], atol=1e-5, rtol=1e-5)
    only_hidden, hidden_alone = TrunkForward(model, logits=False)(batch)
    assert only_hidden is None
    torch.testing.assert_close(hidden_alone[mask], hidden[mask])
    # Gradients through the hidden state reach the trunk the same way on both paths.
    grads = []
    for fast in (True, False):
        model.zero_grad()
        forward = TrunkForward(model, logits=False)
        if not fast:
            forward.fast = None
        _, h = forward(batch)
        (h[mask] ** 2).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# ---- the stage ------------------------------------------------------------------------------------
class OneOfTwo(TextEnv):
    """One turn: of the two listed doors, only the red one wins (reward 1)."""

    has_expert = True

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    @property
    def num_tasks(self) -> int:
        return 1000

    def _load_task(self, task_id, rng):
        return "Open the winning door.", "You see a blue door and a red door."

    def _step_world(self, action: str) -> WorldStep:
        won = action == "open red door"
        return WorldStep(
            observation="The door opens." if won else "Wrong door.", reward=float(won), won=won, done=not won
        )

    def _available_actions(self) -> list[str]:
        return ["open blue door", "open red door"]

    def _expert_action(self) -> str:
        return "open red door"


ONE_OF_TWO = "rldojo-test/OneOfTwo-v0"
if ONE_OF_TWO not in gym.registry:
    gym.register(ONE_OF_TWO, entry_point=OneOfTwo)


def _one_of_two_spec(agent: dict, **train) -> dict:
    raw = lm_spec(agent, env={"id": ONE_OF_TWO, "num_envs": 8}, max_new_tokens=8, **train)
    raw["agent"]["generation"]["action_mode"] = "choose"
    raw["agent"]["model"]["max_model_len"] = 256
    return raw


def test_the_stage_learns_a_one_turn_choice_above_chance():
    agent = build(
        _one_of_two_spec(
            {"algo": "lm_ppo", "groups": 2, "group_size": 8, "optim": {"lr": 3e-3}, "critic_optim": {"lr": 3e-3}},
            iterations=12,
        )
    )
    trainer = agent.begin_stage(0)
    rows = [report.metrics for report in trainer.steps()]
    assert len(rows) == 12 and trainer.progress() == (12, 12)
    # Chance is 0.5 (the first iteration plays before any update); the last three are well above it.
    last = np.mean([r["success"] for r in rows[-3:]])
    assert last >= 0.85 and last > rows[0]["success"], [r["success"] for r in rows]
    for name in ("value_loss", "explained_variance", "clip_frac", "approx_kl", "entropy", "adv_std", "grad_norm"):
        assert all(math.isfinite(r[name]) for r in rows), name
    assert all(math.isnan(r["kl"]) and r["kept_groups"] == 1.0 for r in rows)


@pytest.mark.parametrize(
    "settings",
    [
        {"gae_level": "turn", "critic": "separate", "critic_warmup": 1, "ppo_epochs": 1, "minibatches": 1},
        {"kl_coef": 0.1, "kl_mode": "loss", "filter_top_fraction": 0.5, "ent_coef": 0.01, "micro_batch_size": 3},
        {"kl_coef": 0.1, "critic": "separate", "value_clip": None, "lora": True},
    ],
    ids=["turn-separate-warmup", "kl-loss-filter-entropy", "kl-reward-lora-separate"],
)
def test_every_variant_runs_and_reports_its_metrics(settings):
    settings = dict(settings)
    lora = settings.pop("lora", False)
    raw = lm_spec({"algo": "lm_ppo", "groups": 2, "group_size": 3, **settings}, max_new_tokens=6, iterations=2)
    if lora:
        raw["agent"]["model"]["lora"] = {"r": 4, "alpha": 8, "dropout": 0.0}
    agent = build(raw)
    trainer = agent.begin_stage(0)
    before = [p.detach().clone() for p in agent.lm.trainable_parameters()]
    rows = [report.metrics for report in trainer.steps()]
    assert set(rows[0]) == set(LMPPOParams.metric_names)
    changed = any(not torch.equal(a, b) for a, b in zip(before, agent.lm.trainable_parameters()))
    assert changed  # a policy step happened (after the warm-up, where there is one)
    if settings.get("critic_warmup"):
        assert math.isnan(rows[0]["clip_frac"]) and math.isfinite(rows[1]["clip_frac"])
        assert trainer.updates == 1 and trainer.critic_updates == 2
    if settings.get("filter_top_fraction"):
        assert all(r["kept_groups"] == 0.5 for r in rows)
    if settings.get("kl_coef"):
        assert all(math.isfinite(r["kl"]) for r in rows)
    state = trainer.state_dict()
    assert (state["critic_trunk"] is not None) == (settings.get("critic") == "separate")
    # A fresh trainer takes the value head, the separate trunk, both optimizers and the counters back.
    fresh = LMPPOTrainer(trainer.params, agent)
    fresh.load_state_dict(state)
    assert (fresh.iteration, fresh.updates, fresh.critic_updates) == (2, trainer.updates, trainer.critic_updates)
    for name in ("value_head", "critic_trunk"):
        if getattr(trainer, name) is not None:
            for a, b in zip(getattr(trainer, name).state_dict().values(), getattr(fresh, name).state_dict().values()):
                assert torch.equal(a, b), name
    for optimizer in ("optimizer", "critic_optimizer"):
        saved, loaded = getattr(trainer, optimizer).state_dict(), getattr(fresh, optimizer).state_dict()
        assert saved["state"].keys() == loaded["state"].keys() and saved["state"]
        for key, slots in saved["state"].items():
            assert all(torch.equal(value, loaded["state"][key][slot]) for slot, value in slots.items())


def test_settings_that_do_nothing_are_refused():
    with pytest.raises(SpecError, match="kl_mode"):
        spec_from_raw(lm_spec({"algo": "lm_ppo", "kl_mode": "loss"}), [], source="test")
    with pytest.raises(SpecError, match="group_size >= 2"):
        spec_from_raw(lm_spec({"algo": "lm_ppo", "group_size": 1, "filter_top_fraction": 0.5}), [], source="test")
    stage = {"algo": "lm_ppo", "kl_coef": 0.05, "kl_mode": "loss", "gae_level": "turn"}
    spec = spec_from_raw(lm_spec({"algo": "pipeline", "stages": [{"algo": "sft"}, stage]}), [], source="test")
    assert spec.agent.stages[1].gae_level == "turn"


def test_a_pipeline_resumes_inside_its_lm_ppo_stage(tmp_path, monkeypatch):
    from rldojo.run import interrupt
    from rldojo.run.session import Session
    from rldojo.track.tracker import read_metrics

    stage = {"algo": "lm_ppo", "groups": 2, "group_size": 2, "critic": "separate", "critic_warmup": 1}
    agent = {"algo": "pipeline", "stages": [{"algo": "sft", "demo_episodes": 12, "epochs": 1, "batch_size": 6}, stage]}
    spec = spec_from_raw(lm_spec(agent, max_new_tokens=6, iterations=3, checkpoint_every=1), [], source="test")
    calls = {"n": 0}

    def stop_after_two_ppo_iterations() -> bool:
        calls["n"] += 1  # asked once per step: 2 SFT steps, then one per lm_ppo iteration
        return calls["n"] == 4

    interrupt.install()
    try:
        monkeypatch.setattr(interrupt, "requested", stop_after_two_ppo_iterations)
        first = Session(spec, tmp_path, 0).run()
        assert first["status"] == "interrupted"
        saved = torch.load(tmp_path / "s0/ckpt/last.pt", weights_only=False)["agent"]["trainer"]
        assert saved["iteration"] == 2 and saved["updates"] == 4 and saved["critic_updates"] == 8
        monkeypatch.setattr(interrupt, "requested", lambda: False)
        done = Session(spec, tmp_path, 0).run()
    finally:
        interrupt.restore()
    assert done["status"] == "done" and done["resumes"] == 1
    assert [s["stage"] for s in done["stages"]] == ["base", "sft", "lm_ppo"]
    assert done["episodes"] == 3 * 4  # the interrupted iterations are not played twice
    metrics = read_metrics(tmp_path / "s0/metrics.csv")
    assert metrics["frame"] == sorted(metrics["frame"])
    assert sum(r == r for r in metrics["value_loss"]) == 3
