"""Single-turn reasoning tasks on the text-env protocol: SAT, Abduction, Deduction.

`register_envs()` registers `dojo/SAT-v0`, `dojo/Abduction-v0` and `dojo/Deduction-v0` (entry
points load lazily, so `import rldojo` stays cheap). The program tasks run answers in
`rldojo.sandbox`; their shipped task sets live in `data/` and are rebuilt by
`python -m rldojo.envs.reason.build`.
"""

from rldojo.envs.registry import register_dojo_env


def register_envs() -> None:
    register_dojo_env("dojo/SAT-v0", "rldojo.envs.reason.sat:SATEnv")
    register_dojo_env("dojo/Abduction-v0", "rldojo.envs.reason.abduction:AbductionEnv")
    register_dojo_env("dojo/Deduction-v0", "rldojo.envs.reason.deduction:DeductionEnv")


__all__ = ["register_envs"]
