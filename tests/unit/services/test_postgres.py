"""PostgreSQL's access rules: the owner's socket, then SCRAM passwords from the allowed ranges only."""

from __future__ import annotations

from t2igan.services.postgres import hba_rules, url


def test_tcp_needs_a_password_and_comes_only_from_the_allowed_ranges() -> None:
    rules = [line.split("#")[0].split() for line in hba_rules(("10.1.2.0/24",)).splitlines()]
    rules = [rule for rule in rules if rule]
    assert rules == [
        ["local", "all", "all", "trust"],
        ["host", "all", "all", "10.1.2.0/24", "scram-sha-256"],
    ]
    assert not any("trust" in rule and rule[0] == "host" for rule in rules)


def test_a_url_names_user_and_host_but_no_password() -> None:
    assert url("10.1.2.3", 6000, "feedback") == "postgresql+psycopg2://t2igan@10.1.2.3:6000/feedback"
    assert url("10.1.2.3", 6000, "prefect", "asyncpg") == "postgresql+asyncpg://t2igan@10.1.2.3:6000/prefect"
