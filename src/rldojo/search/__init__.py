"""Hyperparameter search over rldojo specs: `rldojo search SPEC`.

- `space`: the `search.space` distributions as Ray Tune domains, trial values as `--set` overrides,
  the stage-2 space around a stage-1 best (`narrow_space`), the keys checked against the spec.
- `metric`: what a trial reports (a column of its metric rows or a trial statistic).
- `trainable`: one trial as a Ray Tune Trainable that trains an rldojo run folder and hands its rows
  to Tune, so ASHA can stop it between rows.
- `tune`: the experiment: Ray (local or a cluster), Optuna's TPE or random or grid sampling, ASHA,
  progress, resume, and what is written (`experiment`: experiment.csv, best_spec.yaml, plots).
- `gpucb`: GP-UCB over a finite candidate set (a reusable core taking any objective), and
  `candidates`: GP-UCB over rldojo spec variants.

This package sits between `rldojo.cli | rldojo.api` and `rldojo.run`: it builds trials from specs
and trains them through `rldojo.run.trial.run_trial`, with the public callbacks' `on_row` hook.
"""
