"""Label constants shared by every judge, scorer and the analysis.

A judge assigns each response one of ``LABELS``; anything it cannot label (an unparseable grader
verdict, an error) is ``UNSCORED`` and is dropped before stability metrics are computed.
"""

REFUSE = "REFUSE"
PARTIAL = "PARTIAL"
COMPLY = "COMPLY"
UNSCORED = "UNSCORED"
LABELS = (REFUSE, PARTIAL, COMPLY)
