"""Prompts: export the hard prompts (captions people voted "both bad" or thumbed down) to data/hard_prompts.csv.

dvc.yaml marks this stage `always_changed` (the feedback database is outside what DVC can watch); it costs
one query. The file is sorted and deduplicated, so unchanged feedback writes the same bytes and DVC skips
evaluate; new hard prompts make a new version of the file and rerun evaluate, which scores them apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from t2igan.config import Params
from t2igan.data.hard_prompts import write_hard_prompts
from t2igan.feedback.database import feedback_url, open_database
from t2igan.feedback.disliked import hard_prompts
from t2igan.paths import ProjectPaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromptsResult:
    prompts: int
    path: str


def run(params: Params, paths: ProjectPaths) -> PromptsResult:
    with open_database(feedback_url(paths))() as session:
        found = hard_prompts(session, params.register_.model_name)
    write_hard_prompts(found, paths.hard_prompts)
    log.info("%d hard prompts from people's feedback in %s", len(found), paths.hard_prompts)
    return PromptsResult(len(found), str(paths.hard_prompts))
