"""``python -m higgsflow`` is the same as the ``higgsflow`` command."""

import sys

from higgsflow.cli import main

sys.exit(main())
