"""The workspace around projects: overviews, and projects as archives (export, import)."""
