"""`python -m streams.cli`: the `pulse` command."""

from streams.cli import main

main()
