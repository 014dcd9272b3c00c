"""Image -> text: the training captions that best describe an image (`t2igan describe`, the studio).

Evaluation already trains a contrastive image encoder on the training split for R-precision
(t2igan.metrics.retrieval); this package reuses that same cached encoder and ranks the unique training captions
by the cosine similarity of their embeddings to the image's. It needs the data stages' outputs, never a
generator.

`index.CaptionIndex` loads and asks; `checks` holds what a request may ask for; `upload` reads images.
"""
