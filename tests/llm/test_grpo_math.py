import math

import pytest
import torch

from rldojo.algos.grpo import group_advantages, grpo_loss, kl_k3


def test_group_advantages_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    # group 0: mean .5, unbiased std sqrt(1/3); group 1: mean .75, std .5
    s0 = math.sqrt(1 / 3)
    expected_group = torch.tensor(
        [[0.5 / s0, -0.5 / s0, -0.5 / s0, 0.5 / s0], [0.25 / 0.5, 0.25 / 0.5, 0.25 / 0.5, -0.75 / 0.5]]
    )
    torch.testing.assert_close(group_advantages(rewards, "group", eps=0.0), expected_group)
    batch_std = float(torch.tensor([1, 0, 0, 1, 1, 1, 1, 0.0]).std())  # sqrt(15/56)
    assert batch_std == pytest.approx(math.sqrt(15 / 56))
    torch.testing.assert_close(
        group_advantages(rewards, "batch", eps=0.0),
        torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.25, 0.25, 0.25, -0.75]]) / batch_std,
    )
    centred = torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.25, 0.25, 0.25, -0.75]])
    torch.testing.assert_close(group_advantages(rewards, "none"), centred)
    # A group whose episodes all score the same teaches nothing.
    assert group_advantages(torch.ones(1, 4), "group").abs().max() == 0


def toy_batch():
    """Two episodes, three token slots; episode 0 has 2 trained tokens, episode 1 has 3."""
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5], [0.4, 0.4, 0.4]]))
    new = torch.log(torch.tensor([[0.7, 0.5, 0.9], [0.2, 0.44, 0.4]]))
    ref = torch.log(torch.tensor([[0.5, 0.25, 0.9], [0.4, 0.4, 0.4]]))
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    adv = torch.tensor([1.0, -2.0])
    return new, old, ref, mask, adv


def test_clipped_token_terms_by_hand():
    new, old, ref, mask, adv = toy_batch()
    # ratios: ep0: 1.4, 1.0, (1.8 masked); ep1: 0.5, 1.1, 1.0 ; eps .2 low, .3 high
    # ep0 (A=+1): min(1.4, clip 1.3) = 1.3 -> -1.3 ; min(1.0, 1.0) -> -1.0
    # ep1 (A=-2): min(-1.0, clip(.5)=.8 * -2 = -1.6) = -1.6 -> 1.6 ; min(-2.2, -2.2) -> 2.2 ; 1.0 -> 2.0
    per_token = torch.tensor([[-1.3, -1.0, 0.0], [1.6, 2.2, 2.0]])
    loss, terms = grpo_loss(new, old, adv, mask, "dapo", 0.2, 0.3)
    assert float(loss) == pytest.approx(float(per_token.sum()) / 5)
    loss, _ = grpo_loss(new, old, adv, mask, "grpo", 0.2, 0.3)
    assert float(loss) == pytest.approx(((-1.3 - 1.0) / 2 + (1.6 + 2.2 + 2.0) / 3) / 2)
    loss, _ = grpo_loss(new, old, adv, mask, "dr_grpo", 0.2, 0.3, max_tokens=4)
    assert float(loss) == pytest.approx(float(per_token.sum()) / (2 * 4))
    # clipped: ep0 token 0 (ratio 1.4 > 1.3, A > 0), ep1 token 0 (ratio .5 < .8, A < 0)
    assert terms["clipped"].tolist() == [[True, False, True], [True, False, False]]
    assert float((terms["clipped"].float() * mask).sum() / mask.sum()) == pytest.approx(2 / 5)


def test_kl_term_by_hand():
    new, old, ref, mask, adv = toy_batch()
    # k3 = r - log r - 1 with r = ref / new
    r = torch.tensor([[0.5 / 0.7, 0.25 / 0.5, 1.0], [2.0, 0.4 / 0.44, 1.0]])
    k3 = r - torch.log(r) - 1
    torch.testing.assert_close(kl_k3(new, ref), k3)
    assert float(k3[0, 2]) == 0 and (k3 >= 0).all()
    plain, _ = grpo_loss(new, old, adv, mask, "dapo", 0.2, 0.3)
    with_kl, terms = grpo_loss(new, old, adv, mask, "dapo", 0.2, 0.3, beta=0.1, ref_logp=ref)
    assert float(with_kl - plain) == pytest.approx(0.1 * float((k3 * mask).sum()) / 5, rel=1e-5)
    torch.testing.assert_close(terms["kl"], k3)


def test_gradient_at_ratio_one_is_the_policy_gradient():
    """On-policy (old = new), d loss / d logp_t = -A / tokens for dapo."""
    new, _, _, mask, adv = toy_batch()
    logp = new.clone().requires_grad_(True)
    loss, _ = grpo_loss(logp, logp.detach(), adv, mask, "dapo", 0.2, 0.2)
    loss.backward()
    torch.testing.assert_close(logp.grad, -(adv[:, None] * mask) / 5)


def test_micro_batches_with_minibatch_normalisers_add_up_to_the_full_batch():
    new, old, _, mask, adv = toy_batch()
    for loss_type in ("grpo", "dr_grpo", "dapo"):
        full, _ = grpo_loss(new, old, adv, mask, loss_type, 0.2, 0.3, max_tokens=4)
        parts = sum(
            grpo_loss(
                new[i : i + 1],
                old[i : i + 1],
                adv[i : i + 1],
                mask[i : i + 1],
                loss_type,
                0.2,
                0.3,
                episodes=2,
                tokens=5.0,
                max_tokens=4,
            )[0]
            for i in range(2)
        )
        assert float(parts) == pytest.approx(float(full))
