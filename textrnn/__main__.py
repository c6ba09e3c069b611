"""`python -m textrnn` is the `textrnn` command."""

from textrnn.cli import main

main()
