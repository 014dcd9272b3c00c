"""People's feedback on the generators: blind comparisons and thumbs from the studio, in a real database.

`schema` holds the tables, `database` opens them (Alembic migrations to the newest schema first), `tokens`
signs what the studio showed so that only votes on real comparisons count, `votes` writes one vote per
transaction, `stats` turns votes into win rates with intervals, `gate` applies `register.human_gate`, and
`hard_prompts` exports the captions people disliked.
"""
