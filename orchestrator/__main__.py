"""`python -m orchestrator`: the same as the `tenantchain` console script."""

from .cli import main

main()
