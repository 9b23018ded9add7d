"""Model configs: the provider connections users store, with their keys encrypted."""
