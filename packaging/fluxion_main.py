"""PyInstaller's entry script for the standalone build: the ``fluxion`` command.

PyInstaller freezes a script, not a console-script entry point, so this runs
what the ``fluxion`` entry point runs (fluxion.app.cli:main).
"""

import multiprocessing
import sys

from fluxion.app.cli import main

if __name__ == "__main__":
    # ``--executor processes`` starts worker processes from the frozen executable;
    # freeze_support lets those children run the work instead of the CLI.
    multiprocessing.freeze_support()
    sys.exit(main())
