"""Agents: what a run does with the model — plain chat, or the coding pipeline."""
