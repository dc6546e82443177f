"""The results store: finished runs as tidy rows in an embedded DuckDB database (`results.py`),
read from run folders (`rows.py`), so it can always be rebuilt from them."""
