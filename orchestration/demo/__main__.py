"""`python -m orchestration.demo`: see `orchestration.demo.run`."""

from orchestration.demo.run import main

main()
