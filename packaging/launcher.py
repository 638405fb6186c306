"""Entry script of the frozen app: PyInstaller runs this file as ``__main__``.

``main`` calls ``multiprocessing.freeze_support()`` first, so a worker process started by the
frozen app (DataLoader workers with ``spawn``) runs its task and exits instead of opening a window.
"""

import sys

from scl_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
