import numpy as np
import pytest

from rldojo.envs import EnvInputError, choose_vectorize, final_observations, make_vec


def test_slm_lab_rule_picks_sync_for_classic_control():
    assert choose_vectorize("CartPole-v1", 64) == "sync"
    assert choose_vectorize("LunarLander-v3", 16) == "sync"


def test_unknown_env_id_names_close_matches():
    with pytest.raises(EnvInputError, match="CartPole-v1"):
        make_vec("CartPol-v1", 2)


def test_same_step_autoreset_returns_final_obs():
    venv = make_vec("CartPole-v1", 3, seed=0)
    obs, _ = venv.reset(seed=0)
    for _ in range(200):
        next_obs, _, term, trunc, infos = venv.step(np.zeros(3, dtype=np.int64))
        done = term | trunc
        if done.any():
            final = final_observations(infos, done, next_obs)
            i = int(np.flatnonzero(done)[0])
            # The pole fell: the final obs is out of bounds, the returned obs is a fresh reset.
            assert abs(final[i][2]) > 0.2 or abs(final[i][0]) > 2.4
            assert np.all(np.abs(next_obs[i]) <= 0.05)
            break
    else:
        pytest.fail("CartPole with a constant action should end within 200 steps")
    venv.close()
