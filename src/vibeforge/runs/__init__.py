"""Runs: the registry of agent turns, cancellation, the event bus, the journal and replay."""
