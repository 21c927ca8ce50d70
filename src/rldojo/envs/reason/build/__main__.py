"""`python -m rldojo.envs.reason.build`: rewrite the shipped abduction and deduction sets."""

from rldojo.envs.reason.build import main

main()
