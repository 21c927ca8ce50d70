"""`python -m rldojo ...`: the `rldojo` command, also as `accelerate launch -m rldojo train SPEC`
(one data-parallel process each; `rldojo.run.distributed`)."""

import os
import sys

from rldojo.cli import main

if __name__ == "__main__":
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0:
        # results (tables, the run folder) are printed once, by the main process; errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    main()
