"""Running a grid's runs: one interface, local processes, Ray or Slurm."""
