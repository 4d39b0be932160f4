"""--out on object storage: each analysis under a fresh prefix, the manifest written last names it.

Against moto's S3 server on 127.0.0.1 (tests/s3_server.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from s3_server import s3_bucket, s3_filesystem, s3_server  # noqa: F401 (fixtures)
from test_whole_outputs import _analyze, _log

from refusal_stability.analysis.whole_output import MANIFEST


def test_an_analysis_into_s3_is_listed_by_a_manifest_written_last(tmp_path: Path, s3_bucket: str) -> None:  # noqa: F811
    logs = [_log(tmp_path / "logs" / "a.eval", "vllm/a"), _log(tmp_path / "logs" / "b.eval", "vllm/b", "COMPLY")]
    out = f"s3://{s3_bucket}/reports"
    fs = s3_filesystem()
    assert _analyze(logs, out) == 0
    first = json.loads(fs.cat_file(f"{s3_bucket}/reports/{MANIFEST}"))
    assert any(entry["path"].endswith("/comparisons.csv") for entry in first["files"])
    assert _analyze(logs[:1], out) == 0
    fs.invalidate_cache()
    second = json.loads(fs.cat_file(f"{s3_bucket}/reports/{MANIFEST}"))
    assert second["prefix"] != first["prefix"]
    listed = {f"{s3_bucket}/reports/{entry['path']}" for entry in second["files"]}
    present = set(fs.find(f"{s3_bucket}/reports")) - {f"{s3_bucket}/reports/{MANIFEST}"}
    assert listed == present  # the earlier analysis's prefix is gone; nothing unlisted is left
    assert not any(path.endswith("/comparisons.csv") for path in listed)
    for entry in second["files"]:
        assert len(fs.cat_file(f"{s3_bucket}/reports/{entry['path']}")) == entry["bytes"]


def test_an_s3_prefix_of_other_objects_is_not_clobbered(
    tmp_path: Path,
    s3_bucket: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    fs = s3_filesystem()
    fs.pipe_file(f"{s3_bucket}/mine/thesis.tex", b"keep me")
    logs = [_log(tmp_path / "logs" / "a.eval", "vllm/a")]
    assert _analyze(logs, f"s3://{s3_bucket}/mine") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and MANIFEST in err[0]
    assert fs.find(f"{s3_bucket}/mine") == [f"{s3_bucket}/mine/thesis.tex"]
