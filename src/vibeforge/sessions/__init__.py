"""Sessions: persistent conversations in a project, global or about one node."""
