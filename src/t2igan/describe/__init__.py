"""Image -> text: the training captions that best describe an image (`t2igan describe`, the studio).

Evaluation already trains a contrastive image encoder on the training split for R-precision
(t2igan.metrics.retrieval); this package reuses that same cached encoder and ranks the unique training captions
by the cosine similarity of their embeddings to the image's. It needs the data stages' outputs, never a
generator.
"""

from t2igan.describe.checks import MAX_TOP_K, BadDescribeRequest, check_top_k
from t2igan.describe.index import CaptionIndex, Match
from t2igan.describe.upload import read_image_file

__all__ = ["MAX_TOP_K", "BadDescribeRequest", "CaptionIndex", "Match", "check_top_k", "read_image_file"]
