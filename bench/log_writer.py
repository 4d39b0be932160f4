"""Writing large synthetic ``.eval`` logs for the benches in minutes, not hours (bench-only; never the analysis).

Inspect 0.3.285's ``write_eval_log`` has two costs that make a 70,080-sample log (one model's run of 3,504
prompts x 20 epochs) take about 22 CPU-minutes:
  * ``ZipLogFile.buffer_sample`` rebuilds its buffer to drop an earlier record of the same (id, epoch) on every
    sample: O(n) per sample, O(n^2) per log;
  * every zip member is compressed by a fresh zstd compressor with 12 worker threads (``_ZSTD_THREADS``), about
    0.5 ms per member on 2 cores.
:func:`fast_writer` replaces both, in the calling process only (forked workers inherit it): a buffer append
(the synthetic samples are unique by (id, epoch), so the supersede scan never finds anything) and
single-threaded zstd (the same format: a zstd member decodes the same however many threads compressed it).
What is written is still Inspect's writer's output, read back with Inspect's public readers; the analysis
itself uses public Inspect APIs only. When the internals are not where this expects them (another Inspect
version), nothing is replaced and the logs are written at Inspect's own speed.
"""

from __future__ import annotations

from typing import Any


def fast_writer() -> bool:
    """Make ``write_eval_log`` linear in a log's samples in this process; False when Inspect's internals moved.

    Returns:
        Whether both replacements were made.
    """
    try:
        import inspect_ai._util.zipfile as inspect_zip
        from inspect_ai.log._recorders import eval as eval_recorder
    except ImportError:
        return False
    log_file = getattr(eval_recorder, "ZipLogFile", None)
    buffered = getattr(eval_recorder, "_BufferedSample", None)
    if log_file is None or buffered is None or not hasattr(inspect_zip, "_ZSTD_THREADS"):
        return False

    async def buffer_sample(self: Any, sample: Any) -> None:
        async with self._lock:
            self._samples.append(buffered(sample=sample, summary=sample.summary()))

    log_file.buffer_sample = buffer_sample
    inspect_zip._ZSTD_THREADS = 0  # zstandard: 0 = compress in the calling thread
    return True
