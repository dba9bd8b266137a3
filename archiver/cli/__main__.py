"""`python -m archiver.cli`, the same as the `archiver` script."""

from archiver.cli.main import main

main()
