"""Wiring from a spec: sessions (one seed), trials (N sessions aggregated), the run folder."""
