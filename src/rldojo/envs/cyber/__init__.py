"""Network defence: `dojo/NetDefense-v0`, a CAGE-2 network for blue (defender) agents.

`register_envs()` registers the id (the entry point loads lazily: `import rldojo` does not import
the simulator). The env runs on CybORG (the `csle-cyborg` package, `pip install 'rldojo[cyber]'`)
with rldojo's own scenario files (`scenario/`); `baselines` holds scripted blue policies (sleep,
react-and-restore) and `workflow` the priority orderings that can shape blue's reward.
"""

from rldojo.envs.registry import register_dojo_env

ENV_ID = "dojo/NetDefense-v0"


def register_envs() -> None:
    register_dojo_env(ENV_ID, "rldojo.envs.cyber.netdefense:NetDefenseEnv")


__all__ = ["ENV_ID", "register_envs"]
