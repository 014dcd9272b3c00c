"""Team mode: the servers a team shares, started on 127.0.0.1 with their data under one directory.

    t2igan services start     # PostgreSQL, MLflow and Prefect servers on it, a process pool's worker, S3
    t2igan services status
    t2igan services stop      # the processes stop; the data stays for the next start

Laptop mode (a sqlite registry, an ephemeral Prefect API, a directory as DVC remote) stays the default: the
project uses the servers only through the environment written to `team.env` while they run.
"""
