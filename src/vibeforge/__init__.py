"""vibeforge: a self-hostable server for AI code-editing agents."""

__version__ = "0.1.0"
