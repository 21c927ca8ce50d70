"""Experience storage: the on-policy rollout buffer (replay buffers come with the off-policy algos)."""
