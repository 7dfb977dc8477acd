"""`python -m roundtable_tui.cli`."""

import sys

from roundtable_tui.cli import main

sys.exit(main())
