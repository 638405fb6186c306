"""Runs: the run folder (the truth: record, config, split, checkpoints, metrics, results), its
SQLite index, and ``RunStore``, the one object that creates, opens, lists and deletes runs."""
