"""``python -m spe_host``: the ``spe-host`` command."""

import sys

from spe_host.cli import main

sys.exit(main())
