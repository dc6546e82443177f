"""Commands with their own module, mounted by `xstilts.cli`: `grid` (run and watch a grid of
experiments) and `results` (the results store)."""
