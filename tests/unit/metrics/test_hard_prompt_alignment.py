"""Hard prompts: which attributes a caption people typed names, by its words."""

from __future__ import annotations

from t2igan.data.shapes import ATTRIBUTES
from t2igan.metrics.hard_prompt_alignment import named_attributes


def test_a_prompt_scores_the_attributes_it_names_by_their_words() -> None:
    vocab = {name: list(values) for name, values in ATTRIBUTES.items()}
    assert named_attributes("A large purple Diamond, top, on gray!", vocab) == {
        "color": "purple",
        "shape": "diamond",
        "size": "large",
        "position": "top",
        "background": "gray",
    }
    assert named_attributes("a red or blue circle", vocab) == {"shape": "circle"}  # two colors: ambiguous
    assert named_attributes("a cathedral at dusk", vocab) == {}
