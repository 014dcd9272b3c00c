"""Scan: fingerprint the dataset's files into data/source.json, the dependency that reruns ingest on new data.

dvc.yaml marks this stage `always_changed` (the dataset is outside what DVC can watch); it costs a directory
listing. When the fingerprint is unchanged, DVC sees ingest's input unchanged and skips the rest of the
pipeline. A missing dataset is not this stage's error to raise: ingest reports it, naming the path.
"""

from __future__ import annotations

import logging

from t2igan.config import Params
from t2igan.data.source import SourceFingerprint, fingerprint
from t2igan.io import write_json
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


def run(params: Params, paths: ProjectPaths) -> SourceFingerprint:
    found = fingerprint(params.data)
    write_json(paths.source_fingerprint, found.to_dict())
    log.info(
        "%s source: %d files, %d bytes, digest %s", found.source, found.files, found.bytes, found.digest[:12]
    )
    return found
