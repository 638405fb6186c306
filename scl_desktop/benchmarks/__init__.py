"""Stand-alone measurements (run with ``python -m scl_desktop.benchmarks.<name>``); not imported by the app."""
