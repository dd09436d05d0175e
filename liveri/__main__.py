import sys

from liveri.cli import main

sys.exit(main())
