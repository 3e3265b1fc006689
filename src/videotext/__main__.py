"""`python -m videotext ...` and `accelerate launch -m videotext ...`."""

import sys

from .cli import main

sys.exit(main())
