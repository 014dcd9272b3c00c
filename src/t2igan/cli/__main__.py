"""`python -m t2igan.cli`: what torchrun starts for each rank of `t2igan train`."""

from t2igan.cli.main import main

main()
