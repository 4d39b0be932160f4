"""``python -m refusal_stability.probe``: the probe without the ``refusal-stability`` command."""

import sys

from refusal_stability.probe.command import main

sys.exit(main())
