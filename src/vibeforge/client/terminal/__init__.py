"""`vibeforge chat`, `resume` and `export`: the terminal client."""
