"""`python -m dashboards.grafana` is `hostpulse-grafana`."""

import sys

from dashboards.grafana.cli import main

sys.exit(main())
