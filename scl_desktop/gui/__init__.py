"""The PySide6 desktop application: collects configs, runs core steps in workers, draws their events.

Nothing here trains or evaluates anything itself; all of that is in ``scl_desktop.core``.
"""
