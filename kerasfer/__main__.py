"""`python -m kerasfer` runs the command line."""

import sys

from kerasfer.cli import main

sys.exit(main())
