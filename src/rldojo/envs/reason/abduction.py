"""`dojo/Abduction-v0`: given a program and what it printed, give the stdin that produced it.

The answer is the last <INPUT>…</INPUT> block of the reply (after <think> blocks are removed);
reward 1 iff running the program on it, in the sandbox, exits cleanly and prints the expected
output (CRLF and trailing whitespace normalised). Tasks: rldojo's shipped set by default, or a
user's JSONL (`jsonl=`), or a Hugging Face dataset in the rl-python layout (`hf_dataset=`).

No shipped task is solved by an answer that ignores the program: the builder leaves out every
task that one of `content_free_inputs` solves (the printed output copied back, an empty input,
the prompt's "..." placeholder, a lone 0 or 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rldojo.envs.reason.answers import last_input_block, outputs_match
from rldojo.envs.reason.base import Grade, ReasoningEnv
from rldojo.envs.reason.programs import load_tasks, sandbox_config
from rldojo.envs.reason.tasks import AbductionTask, load_abduction_jsonl, load_hf_abduction, shipped_abduction
from rldojo.sandbox import SandboxConfig, run_program

PROMPT = """Here is a Python program and the exact text it printed. Find an input (the text fed to \
its standard input) that makes it print exactly this.

Program:
```python
{program}
```

Printed output:
```
{output}
```

Think it through if you like, then give the input inside <INPUT> </INPUT> tags, each line of \
input on its own line, with nothing else inside the tags:
<INPUT>
...
</INPUT>"""


def content_free_inputs(task: AbductionTask) -> list[str]:
    """Inputs an answer can give without working out anything about the program: the printed
    output copied back from the prompt, an empty input, the prompt's placeholder, a lone 0 or 1."""
    return [task.output, "", "...\n", "0\n", "1\n"]


def reference_answer(task: AbductionTask) -> str:
    return f"<INPUT>\n{task.input.rstrip(chr(10))}\n</INPUT>" if task.input.strip() else "<INPUT>\n</INPUT>"


class AbductionEnv(ReasoningEnv):
    """Reverse-execute a program: find the stdin behind a given output."""

    def __init__(
        self,
        jsonl: str | None = None,
        hf_dataset: str | None = None,
        hf_split: str = "train",
        hf_config: str | None = None,
        hf_cache_dir: str | None = None,
        sandbox: dict[str, Any] | SandboxConfig | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        hf_args = (hf_split, hf_config, hf_cache_dir)
        self.tasks: tuple[AbductionTask, ...] = load_tasks(
            jsonl, hf_dataset, hf_args, load_abduction_jsonl, load_hf_abduction, shipped_abduction
        )
        self.sandbox = sandbox_config(sandbox)
        self.task: AbductionTask | None = None

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        self.task = self.tasks[task_id]
        self._reference = reference_answer(self.task)
        return PROMPT.format(program=self.task.program.rstrip(), output=self.task.output.rstrip("\n")), ""

    def _grade(self, reply: str) -> Grade:
        assert self.task is not None
        stdin = last_input_block(reply)
        if stdin is None:
            return Grade(0.0, False, "No <INPUT>…</INPUT> block found in the answer.")
        result = run_program(self.task.program, stdin, self.sandbox)
        details = {"exit_code": result.exit_code, "timed_out": result.timed_out}
        if result.ok and outputs_match(result.stdout, self.task.output):
            return Grade(1.0, True, "Correct: the program prints exactly the expected output.", details)
        if result.timed_out:
            why = "the program ran out of time on that input"
        elif not result.ok:
            last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_code}"]
            why = f"the program failed on that input: {last[0][:300]}"
        else:
            why = f"the program printed something else:\n{result.stdout[:1000]}"
        return Grade(0.0, True, f"Wrong: {why}", details)
