"""Filler requests: benign prompts of random length that keep a condition's batches full."""

from __future__ import annotations

import random

__all__ = ["filler_prompt"]

_FILLER_TOPICS = (
    "the water cycle",
    "how suspension bridges carry load",
    "the history of the printing press",
    "why the sky is blue",
    "how to bake sourdough bread",
    "the rules of chess",
    "photosynthesis",
    "a day in the life of a lighthouse keeper",
    "how vaccines train the immune system",
    "the migration of arctic terns",
    "plate tectonics",
    "how a compiler works",
    "the life cycle of a star",
    "composting at home",
    "the invention of the telephone",
    "how tides work",
)
_FILLER_WORDS = (
    "river mountain garden lantern orbit pebble harbor violin meadow copper window thunder market candle "
    "glacier compass library ribbon canyon orchard whistle marble falcon quarry velvet beacon saddle tundra "
    "prism anchor cedar ember fjord gable hollow ivory juniper kettle lagoon mosaic nectar opal parcel quill"
).split()


def filler_prompt(rng: random.Random) -> str:
    """A benign filler prompt of random length (a topic plus 0-300 random words)."""
    topic = rng.choice(_FILLER_TOPICS)
    words = " ".join(rng.choice(_FILLER_WORDS) for _ in range(rng.randint(0, 300)))
    return f"Write about {topic}. {words}".strip()
