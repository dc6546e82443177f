"""Studies: a research question, the runs it needs (a grid over configs) and claims from the
literature, verified against those runs (`xstilts study run|verify`)."""
