"""Benchmark: the whole ``refusal-stability analyze`` command on 70,080, 350,400 and 1,401,600 records.

Study shapes (models x prompts x epochs, epochs = 4 temperatures x 5 seeds), one log per model (one condition),
as a user has them after running each model once over the dataset:
  70,080    = 1 x 3,504 x 20    (1 log)
  350,400   = 5 x 3,504 x 20    (5 logs)
  1,401,600 = 20 x 3,504 x 20   (20 logs of 70,080 samples each; 190 pairwise comparisons)
The logs are real .eval files: EvalLogs built by ``tests/synthetic_logs.py`` (per-epoch scores and the project's
stability reduction; no model runs) written by ``inspect_ai.log.write_eval_log``, made linear in a log's samples
for this bench by ``bench/log_writer.py`` (Inspect's own writer is quadratic: a 70,080-sample log would take
about 22 CPU-minutes). Logs go into one pool (``--dir``/pool; labels seeded by the model), written over
``--workers`` processes, resumably; each study is a folder of hard links into it (the smaller studies are the
first models of the larger).

For each size the whole command ``python -m refusal_stability.cli analyze LOGS --out DIR --quiet`` (figures,
report.html/report.md, tables, every comparison and the flip-evidence read) runs in a fresh subprocess.
Measured per size:
  seconds:      wall time of that subprocess (interpreter start and imports included).
  peak_rss_mb:  ``ru_maxrss`` of the child from ``os.wait4`` (the largest single process of its tree).
  tree_pss_mb:  peak of the summed PSS of the child and its live descendants, sampled every 0.1 s from /proc.
With ``--s3``, the largest study is also uploaded to an S3-compatible server on 127.0.0.1 (moto's standalone
server, ``tests/s3_server.py``) and analysed from ``s3://`` right after the local run of the same size:
``s3_seconds`` and ``s3_vs_local`` (target <= 2).
Last line: ``records=1401600 seconds=<f> peak_rss_mb=<f> [s3_seconds=<f> s3_vs_local=<f>] load=<1-min load>``
(targets: 15 s and 2,048 MB on an idle machine).

Usage: python bench/analysis_scale.py [--dir DIR] [--sizes 70080,350400,1401600] [--workers 2] [--generate-only]
       [--s3] [-- EXTRA ANALYZE ARGS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

EPOCHS = 20  # the default grid: 4 temperatures x 5 seeds (refusal_stability.definitions.grid)
PROMPTS = 3_504  # prompts per model: 3,504 x 20 epochs = 70,080 samples in each model's log
SHAPES = {70_080: 1, 350_400: 5, 1_401_600: 20}  # records -> models
SEED = 0
TARGET_SECONDS = 15.0
TARGET_RSS_MB = 2048.0
TARGET_S3_RATIO = 2.0
TESTS = Path(__file__).resolve().parents[1] / "tests"


def model_names(n_models: int) -> list[str]:
    """The bench's model names (shared with bench/analysis_speed.py)."""
    return [f"vllm/bench-model-{i}" for i in range(n_models)]


def model_log(pool: Path, model: int) -> Path:
    """The pool file of one model's log."""
    return pool / f"model-{model:02d}.eval"


def _write_model_log(job: tuple[Path, int]) -> tuple[Path, float]:
    """Write one model's 70,080-sample log with the test factory and Inspect's writer; (path, CPU seconds)."""
    import numpy as np
    from inspect_ai.log import write_eval_log

    from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES

    sys.path.insert(0, str(TESTS))  # the log factory lives with the tests
    import synthetic_logs as synthetic

    pool, model = job
    path = model_log(pool, model)
    started = time.process_time()
    prompts = [synthetic.PromptInfo(f"p-{i:05d}", source=("advbench", "harmbench")[i % 2]) for i in range(PROMPTS)]
    rng = np.random.default_rng([SEED, model])  # labels depend on the model only: studies share files
    labels = synthetic.random_labels([p.prompt_id for p in prompts], EPOCHS, rng)
    log = synthetic.build_eval_log(model_names(model + 1)[model], prompts, labels, DEFAULT_TEMPERATURES, DEFAULT_SEEDS)
    partial = path.with_name(f"partial-{path.name}")  # keeps the .eval suffix (Inspect picks the writer by it)
    write_eval_log(log, str(partial))
    partial.replace(path)
    return path, time.process_time() - started


def write_pool(pool: Path, n_models: int, workers: int) -> float:
    """Write the missing logs of the first ``n_models`` models; return the wall seconds spent."""
    import multiprocessing

    from log_writer import fast_writer

    pool.mkdir(parents=True, exist_ok=True)
    for stale in pool.glob("partial-*.eval"):  # an interrupted earlier run
        stale.unlink()
    jobs = [(pool, model) for model in range(n_models) if not model_log(pool, model).exists()]
    if not jobs:
        return 0.0
    if not fast_writer():
        print("  Inspect's writer internals moved: writing at its own (quadratic) speed", flush=True)
    started = time.perf_counter()
    cpu = 0.0
    with multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1) as processes:
        for done, (_, seconds) in enumerate(processes.imap_unordered(_write_model_log, jobs), start=1):
            cpu += seconds
            print(f"  wrote {done}/{len(jobs)} model logs ({time.perf_counter() - started:.0f} s)", flush=True)
    elapsed = time.perf_counter() - started
    samples = len(jobs) * PROMPTS * EPOCHS
    print(
        f"  generation: {samples:,} samples in {len(jobs)} logs, {elapsed:.0f} s wall, {cpu:.0f} s CPU "
        f"({cpu / samples * 1000:.2f} ms CPU per sample, {workers} processes)",
        flush=True,
    )
    return elapsed


def study(root: Path, records: int, workers: int) -> tuple[Path, float]:
    """The directory of the study with ``records`` records (hard links into the pool); (dir, seconds writing)."""
    n_models = SHAPES[records]
    pool = root / "pool"
    elapsed = write_pool(pool, n_models, workers)
    logs_dir = root / f"logs-{n_models}x{PROMPTS}x{EPOCHS}"
    marker = logs_dir / "COMPLETE"
    if not marker.exists():
        shutil.rmtree(logs_dir, ignore_errors=True)
        logs_dir.mkdir(parents=True)
        for model in range(n_models):
            os.link(model_log(pool, model), logs_dir / model_log(pool, model).name)
        marker.write_text(f"{records} records: hard links into {pool}\n")
    return logs_dir, elapsed


def _descendants_pss_kb(pid: int) -> int:
    """Summed PSS (kB) of ``pid`` and its descendants (0 where /proc is unreadable)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    stack += [int(child) for child in handle.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_command(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float | None, int]:
    """Run ``command``; return (wall seconds, ru_maxrss MB, peak tree PSS MB or None, exit status)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    peak_kb = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_kb
        while not done.wait(0.1):
            peak_kb = max(peak_kb, _descendants_pss_kb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True) if os.path.exists("/proc/self/smaps_rollup") else None
    if sampler:
        sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    if sampler:
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    maxrss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return seconds, maxrss_mb, (peak_kb / 1024 if sampler else None), process.returncode


def analyze(logs: str, out_dir: str, extra: list[str], env: dict[str, str] | None = None) -> tuple[float, float, Any]:
    """Run the whole analyze command once in a fresh process; (seconds, peak RSS MB, tree PSS MB or None)."""
    command = [sys.executable, "-m", "refusal_stability.cli", "analyze", logs, "--out", out_dir, "--quiet", *extra]
    seconds, maxrss_mb, pss_mb, code = run_command(command, env)
    if code != 0:
        sys.exit(f"analyze failed (exit {code}): {' '.join(command)}")
    return seconds, maxrss_mb, pss_mb


class S3Study:
    """The largest study in a bucket of an S3-compatible server on 127.0.0.1 (moto), for ``--s3``."""

    def __init__(self, logs_dir: Path) -> None:
        """Start the server, upload the study's logs, remember the environment that points at it."""
        sys.path.insert(0, str(TESTS))
        import s3_server

        self.server = s3_server.start_server()
        scratch = Path(tempfile.mkdtemp(prefix="bench-s3-"))
        self.env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.server.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": s3_server.REGION,
            "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        }
        os.environ.update(self.env)
        filesystem = s3_server.s3_filesystem()
        filesystem.mkdir("bench")
        started = time.perf_counter()
        for path in sorted(logs_dir.glob("*.eval")):
            filesystem.put_file(str(path), f"bench/{logs_dir.name}/{path.name}")
        self.uri = f"s3://bench/{logs_dir.name}"
        print(f"  uploaded {logs_dir.name} to {self.uri} ({time.perf_counter() - started:.0f} s)", flush=True)

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def load() -> str:
    """The 1-minute load average (what else the machine was doing), for the printed lines."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def measure(records: int, logs_dir: Path, root: Path, extra: list[str], s3: bool) -> str:
    """Analyse one study (and, with ``s3``, the same logs from a bucket); print and return its line."""
    n_models = SHAPES[records]
    out_dir = root / f"report-{records}"
    shutil.rmtree(out_dir, ignore_errors=True)
    before = load()
    seconds, maxrss_mb, pss_mb = analyze(str(logs_dir), str(out_dir), extra)
    tree = f" tree_pss_mb={pss_mb:.0f}" if pss_mb is not None else ""
    ok = seconds <= TARGET_SECONDS and maxrss_mb <= TARGET_RSS_MB
    line = f"records={records} seconds={seconds:.2f} peak_rss_mb={maxrss_mb:.0f}"
    if s3:
        bucket = S3Study(logs_dir)
        try:
            s3_seconds, _, _ = analyze(bucket.uri, str(root / f"report-{records}-s3"), extra, bucket.env)
        finally:
            bucket.stop()
        ratio = s3_seconds / seconds
        ok = ok and ratio <= TARGET_S3_RATIO
        line += f" s3_seconds={s3_seconds:.2f} s3_vs_local={ratio:.2f}"
    print(
        f"{line} shape={n_models}x{PROMPTS}x{EPOCHS} logs={n_models}{tree} target={'met' if ok else 'missed'} "
        f"load={before}->{load()}",
        flush=True,
    )
    return f"{line} load={before}->{load()}"


def main() -> None:
    """Write (or reuse) the studies, run the whole analyze command on each, print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "refusal-stability-scale-v3",  # v3: reductions as epoch columns
        help="where logs are cached and reports written (default: %(default)s)",
    )
    parser.add_argument("--sizes", default=",".join(str(n) for n in SHAPES), help="comma-separated record counts")
    parser.add_argument("--workers", type=int, default=2, help="processes writing logs (default 2)")
    parser.add_argument("--generate-only", action="store_true", help="write the logs, run nothing")
    parser.add_argument("--s3", action="store_true", help="also analyse the largest study from a loopback S3 bucket")
    parser.add_argument("extra", nargs="*", help="extra analyze arguments (after --)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown:
        parser.error(f"--sizes {unknown}: expected some of {sorted(SHAPES)}")

    dirs = {}
    for records in sizes:
        logs_dir, elapsed = study(args.dir, records, args.workers)
        how = f"missing logs written in {elapsed:.0f} s" if elapsed else "cached"
        print(f"study records={records} logs={SHAPES[records]} in {logs_dir} ({how})", flush=True)
        dirs[records] = logs_dir
    if args.generate_only:
        return
    lines = {
        records: measure(records, dirs[records], args.dir, args.extra, args.s3 and records == sizes[-1])
        for records in sizes
    }
    if len(sizes) > 1:
        seconds = {records: float(line.split("seconds=")[1].split()[0]) for records, line in lines.items()}
        base = sizes[0]
        ratios = " ".join(f"{r / base:.0f}x_records->{seconds[r] / seconds[base]:.2f}x_seconds" for r in sizes[1:])
        print(f"scaling (same run, vs {base:,} records): {ratios}", flush=True)
    print(lines[sizes[-1]])


if __name__ == "__main__":
    main()
