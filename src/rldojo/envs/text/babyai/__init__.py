"""BabyAI as a text world: minigrid's levels, an egocentric view in words, BabyAI's bot as expert.

minigrid is imported only when a BabyAI env is made (`rldojo[text]` installs it).
"""

LEVELS: tuple[str, ...] = (
    "GoToRedBall",
    "GoToRedBallGrey",
    "GoToObj",
    "GoToLocal",
    "PickupLoc",
    "PutNextLocal",
    "Open",
    "UnlockLocal",
    "GoToObjMaze",
    "GoToSeq",
    "Synth",
    "BossLevel",
)
