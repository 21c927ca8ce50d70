import numpy as np
import torch

from rldojo.memory.replay import PrioritizedReplayBuffer, ReplayBuffer, SumTree


def test_sum_tree_sums_and_prefix_search():
    tree = SumTree(5)
    tree.update(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 0.5]))
    assert tree.total == 10.5
    # Leaf i covers [sum of earlier, sum including i).
    found = tree.find(np.array([0.5, 1.5, 3.0, 5.9, 6.1, 10.2]))
    assert found.tolist() == [0, 1, 1, 2, 3, 4]
    tree.update(np.array([1, 1]), np.array([7.0, 0.0]))  # last write wins
    assert tree.total == 8.5 and tree.leaf_values(np.array([1]))[0] == 0.0


def test_replay_ring_buffer_wraps_and_samples_stored_items():
    buffer = ReplayBuffer(5, (2,), (), np.int64)
    for step in range(3):
        obs = np.full((2, 2), step, np.float32)
        buffer.add(obs, np.array([step, step]), np.array([step, step], np.float32), obs + 1, np.zeros(2))
    assert len(buffer) == 5 and buffer.position == 1
    batch = buffer.sample(64, np.random.default_rng(0))
    assert set(batch["actions"].tolist()) <= {0, 1, 2} and 0 in batch["actions"].tolist()
    torch.testing.assert_close(batch["next_obs"], batch["obs"] + 1)


def test_prioritized_sampling_follows_priorities_and_weights_correct_the_bias():
    buffer = PrioritizedReplayBuffer(4, (1,), (), np.int64, alpha=1.0, epsilon=0.0)
    obs = np.zeros((4, 1), np.float32)
    buffer.add(obs, np.arange(4), np.zeros(4, np.float32), obs, np.zeros(4))
    buffer.update_priorities(np.arange(4), np.array([1.0, 1.0, 2.0, 4.0]))
    rng = np.random.default_rng(0)
    counts = np.zeros(4)
    for _ in range(400):
        batch = buffer.sample(8, rng, beta=1.0)
        counts += np.bincount(batch["indices"].numpy(), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [1 / 8, 1 / 8, 2 / 8, 4 / 8], atol=0.02)
    batch = buffer.sample(4, rng, beta=1.0)
    # w_i = (N P(i))^-1 / max_j (N P(j))^-1 = P_min / P(i)
    probs = np.array([1, 1, 2, 4])[batch["indices"].numpy()] / 8
    np.testing.assert_allclose(batch["weights"].numpy(), (1 / 8) / probs, rtol=1e-5)


def test_replay_state_round_trips():
    buffer = PrioritizedReplayBuffer(8, (3,), (), np.int64)
    obs = np.random.default_rng(1).random((3, 3)).astype(np.float32)
    buffer.add(obs, np.arange(3), np.ones(3, np.float32), obs, np.zeros(3))
    buffer.update_priorities(np.arange(3), np.array([0.1, 5.0, 1.0]))
    restored = PrioritizedReplayBuffer(8, (3,), (), np.int64)
    restored.load_state_dict(buffer.state_dict())
    assert len(restored) == 3 and restored.tree.total == buffer.tree.total
    np.testing.assert_array_equal(restored.obs[:3], obs)
