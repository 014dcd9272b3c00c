"""`t2igan studio`: a web page to try @champion, compare it blind with @challenger, vote, and see the registry.

`app` is the FastAPI application (JSON API and the page), `generation` loads registered models and draws
images, `registry_view` reads versions and their records, `limits` throttles each client. The page itself
is plain HTML and JavaScript in `static/` (no build step).
"""
