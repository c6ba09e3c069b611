"""`python -m textrnn` is the `textrnn` command."""

from textrnn.entry import main

main()
