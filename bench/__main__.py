"""``python -m bench [--short | --full]``."""

from bench.run import main

raise SystemExit(main())
