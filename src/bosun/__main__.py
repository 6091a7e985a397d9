"""`python -m bosun` is the `bosun` command."""

from bosun.cli import main

main()
