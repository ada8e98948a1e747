"""Entry point for ``python -m itscm_check``."""

import sys

from itscm_check.cli import main

sys.exit(main())
