"""Vector envs: one module per `vectorize` mode, behind one seam, `make_vec` (make.py).

Modes: `sync` (sync.py), `workers` (workers.py; the worker processes in worker_process.py), `pool`
(pool.py), `ray` (ray.py), `native` (native.py: gymnasium's vectorised implementations), `envpool`
(envpool_engine.py), `auto` (auto.py: times the env and picks the fastest), and `async`
(gymnasium's AsyncVectorEnv, built in make.py). same_step.py turns NEXT_STEP backends (native,
envpool) into the SAME_STEP contract every engine keeps. Shared machinery: base.py (`EngineVectorEnv`, the
engines' common base), env_slice.py (`EnvSlice`, the stepping loop every engine runs),
shared_memory.py (arrays the worker processes write), crashes.py (crash bookkeeping), cpus.py
(usable and idle CPU cores), factory.py (`EnvFactory`, `make_env`) and infos.py (reading SAME_STEP
infos).
"""

from rldojo.envs.vector.auto import choose_vectorize, plan_vectorize
from rldojo.envs.vector.crashes import EnvCrashError
from rldojo.envs.vector.factory import EnvFactory, make_env
from rldojo.envs.vector.infos import episode_success, final_observations
from rldojo.envs.vector.make import VECTORIZE_MODES, make_vec

__all__ = [
    "VECTORIZE_MODES",
    "EnvCrashError",
    "EnvFactory",
    "choose_vectorize",
    "episode_success",
    "final_observations",
    "make_env",
    "make_vec",
    "plan_vectorize",
]
