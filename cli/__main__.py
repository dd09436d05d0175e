"""`python -m liveri.cli ...`: the `liveri` command without the console script."""

import sys

from liveri.cli.main import main

sys.exit(main())
