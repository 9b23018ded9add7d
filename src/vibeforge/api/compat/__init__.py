"""Adapters speaking the reference systems' own wire protocols over vibeforge's runs and
services (see docs/compat.md), and the local mode their token-less clients need."""
