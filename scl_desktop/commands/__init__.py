"""Command groups of the `scl` CLI; each module has ``register(subparsers)``."""
