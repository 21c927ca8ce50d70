"""Torch modules and the optimizer/schedule machinery shared by all tensor agents."""
