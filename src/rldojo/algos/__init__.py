"""Algorithms. Each file reads top to bottom: its config (the spec reference), then the agent,
whose `update` holds the loss. Shared machinery lives below, in nets/ and memory/."""
