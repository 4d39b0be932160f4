"""The per-epoch fields a stability reduction holds: what the reducer writes and the analysis reads."""

EPOCH_FIELDS = (
    "epoch",
    "temperature",
    "seed",
    "label",
    "response_hash",
    "response_chars",
    "sent_temperature",
    "sent_seed",
    "sent_top_p",
    "sent_verified",
    "system_fingerprint",
)
"""The columns of a reduction's ``epochs`` (plus ``panel`` where a grader panel judged); docs/log-schema.md."""
