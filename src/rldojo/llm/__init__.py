"""Language models for text agents: loading (tiny or local Hugging Face models, LoRA), chat formats,
batched generation behind one seam, rollouts kept as token ids with loss masks, and action parsing."""
