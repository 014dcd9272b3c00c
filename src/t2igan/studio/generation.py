"""Registered versions, loaded once each, drawing PNGs for the studio.

The studio asks the registry which version each alias points at on every request (an alias moved by
`promote` is seen at once) and keeps the loaded pyfunc models by version, so moving an alias costs one load.
Generation is serialised: two requests at once on a small CPU only fight over its cores.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pandas as pd

from t2igan.registry.aliases import CHALLENGER, CHAMPION

LOADED_VERSIONS = 3  # champion, challenger and one that just lost its alias


class UnknownVersion(LookupError):
    """No such version or alias in the registry."""


class RefusedRequest(ValueError):
    """The model refused the request (its message says why: e.g. a caption longer than its LM reads)."""


class Generators:
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._models: OrderedDict[str, Any] = OrderedDict()
        self._load_lock = threading.Lock()
        self._draw_lock = threading.Lock()

    def version_of(self, alias: str) -> str | None:
        """The version `alias` points at now, None when unset."""
        import mlflow

        try:
            return str(mlflow.MlflowClient().get_model_version_by_alias(self.model_name, alias).version)
        except mlflow.exceptions.MlflowException:
            return None

    def pair(self) -> tuple[str | None, str | None]:
        """(champion, challenger) versions; the challenger is None when it is the champion."""
        champion, challenger = self.version_of(CHAMPION), self.version_of(CHALLENGER)
        return champion, challenger if challenger != champion else None

    def _model(self, version: str) -> Any:
        import mlflow

        with self._load_lock:
            if version in self._models:
                self._models.move_to_end(version)
                return self._models[version]
            try:
                model = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
            except mlflow.exceptions.MlflowException as exc:
                raise UnknownVersion(f"{self.model_name} has no version {version}: {exc.message}") from None
            self._models[version] = model
            while len(self._models) > LOADED_VERSIONS:
                self._models.popitem(last=False)
            return model

    def draw(self, version: str, caption: str, seeds: list[int], truncation: float | None) -> list[str]:
        """Base64 PNGs of `caption`, one per seed, from `version`."""
        import mlflow

        model = self._model(version)
        frame = pd.DataFrame({"caption": [caption] * len(seeds), "seed": seeds})
        try:
            with self._draw_lock:
                out = model.predict(frame, params={"truncation": truncation} if truncation else None)
        except mlflow.exceptions.MlflowException as exc:
            raise RefusedRequest(exc.message) from None
        return list(out["image"])

    def max_caption_chars(self, version: str) -> int:
        python_model = self._model(version).unwrap_python_model()
        return int(getattr(python_model, "max_caption_chars", 400))
