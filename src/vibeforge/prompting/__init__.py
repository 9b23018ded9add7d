"""Personas, prompt modules and templates: system prompts that compose and explain themselves.

`grammar` (the `@module` / `${variable}` syntax), `triggers` (when a module applies), `resolver`
(pure resolution with a provenance map), `scripts` (script modules in the sandbox), the
services that store personas, modules and session state, and the run integration (`runs`).
"""
