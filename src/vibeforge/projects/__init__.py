"""Projects: git-backed workspaces of files, with versions, diffs and revert."""
