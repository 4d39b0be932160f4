"""Benchmark: the whole ``refusal-stability analyze`` command on 70,080, 350,400 and 1,401,600 records.

Study shapes (models x prompts x epochs, epochs = 4 temperatures x 5 seeds):
  70,080    = 4 x 876 x 20     (24 logs)
  350,400   = 20 x 876 x 20    (120 logs)
  1,401,600 = 20 x 3,504 x 20  (480 logs)
(70,080 records cannot be 20 models x 20 epochs: 70,080 / 400 = 175.2 prompts.)

The logs are real .eval files: EvalLogs built by ``tests/synthetic_logs.py`` (per-epoch scores and the project's
stability reduction; no model runs) written with ``inspect_ai.log.write_eval_log``. Each log holds one model's
run over 146 prompts (2,920 samples), so a model's study is 6 (or 24) logs, as when a large dataset is run in
batches: Inspect 0.3.285's writer is quadratic in the samples of one log (``buffer_sample`` rescans the buffer
for every sample: ~1.1 ms/sample at 1,000 samples, ~2.4 ms at 4,000, ~6 ms at 17,520), which puts 1.4M records in
single 70,080-sample logs out of reach of a bench. Logs go into one pool (``--dir``/pool, labels seeded by
(model, shard)), written over ``--workers`` processes, resumably; each study is a folder of hard links into it
(the smaller studies are subsets of the larger).

For each size the whole command ``python -m refusal_stability.cli analyze LOGS --out DIR --quiet`` (figures,
report.html/report.md, tables, every comparison and the flip-evidence read the command does) runs in a fresh
subprocess. Measured per size:
  seconds:      wall time of that subprocess (interpreter start and imports included).
  peak_rss_mb:  ``ru_maxrss`` of the child from ``os.wait4`` (the largest single process of its tree: the command
                or one of its forked workers).
  tree_pss_mb:  peak of the summed PSS of the child and its live descendants, sampled every 0.1 s from
                /proc (counts forked workers' own pages once; Linux only, else omitted).
Last line: ``records=1401600 seconds=<f> peak_rss_mb=<f>`` (targets: 15 s and 2,048 MB).

Usage: python bench/analysis_scale.py [--dir DIR] [--sizes 70080,350400,1401600] [--workers 2] [--generate-only]
       [--keep-going] [-- EXTRA ANALYZE ARGS]
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

EPOCHS = 20  # the default grid: 4 temperatures x 5 seeds (refusal_stability.solvers.sampling_grid)
SHAPES = {70_080: (4, 876), 350_400: (20, 876), 1_401_600: (20, 3_504)}  # records -> (models, prompts)
SHARD_PROMPTS = 146  # prompts per log: 876 = 6 x 146, 3,504 = 24 x 146
SEED = 0
TARGET_SECONDS = 15.0
TARGET_RSS_MB = 2048.0


def model_names(n_models: int) -> list[str]:
    """The bench's model names (shared with bench/analysis_speed.py)."""
    return [f"vllm/bench-model-{i}" for i in range(n_models)]


def shard_path(pool: Path, model: int, shard: int) -> Path:
    """The pool file of one shard: prompts ``shard * SHARD_PROMPTS`` onwards of one model."""
    return pool / f"m{model:02d}-s{shard:02d}.eval"


def _write_shard(job: tuple[Path, int, int]) -> tuple[Path, float]:
    """Write one shard log with the test factory and Inspect's writer; return (path, CPU seconds)."""
    import numpy as np
    from inspect_ai.log import write_eval_log

    from refusal_stability.definitions.grid import DEFAULT_SEEDS, DEFAULT_TEMPERATURES

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the log factory lives with the tests
    import synthetic_logs as synthetic

    pool, model, shard = job
    path = shard_path(pool, model, shard)
    started = time.process_time()
    first = shard * SHARD_PROMPTS
    prompts = [
        synthetic.PromptInfo(f"p-{i:05d}", source=("advbench", "harmbench")[i % 2])
        for i in range(first, first + SHARD_PROMPTS)
    ]
    rng = np.random.default_rng([SEED, model, shard])  # labels depend on (model, shard) only: studies share files
    labels = synthetic.random_labels([p.prompt_id for p in prompts], EPOCHS, rng)
    log = synthetic.build_eval_log(model_names(model + 1)[model], prompts, labels, DEFAULT_TEMPERATURES, DEFAULT_SEEDS)
    partial = path.with_name(f"partial-{path.name}")  # keeps the .eval suffix (Inspect picks the writer by it)
    write_eval_log(log, str(partial))
    partial.replace(path)
    return path, time.process_time() - started


def write_pool(pool: Path, records: int, workers: int) -> tuple[int, float]:
    """Write the pool shards the study of ``records`` needs and that are missing; (shards written, seconds)."""
    import multiprocessing

    n_models, n_prompts = SHAPES[records]
    pool.mkdir(parents=True, exist_ok=True)
    for stale in pool.glob("partial-*.eval"):  # an interrupted earlier run
        stale.unlink()
    jobs = [
        (pool, model, shard)
        for shard in range(n_prompts // SHARD_PROMPTS)
        for model in range(n_models)
        if not shard_path(pool, model, shard).exists()
    ]
    if not jobs:
        return 0, 0.0
    started = time.perf_counter()
    cpu = 0.0
    with multiprocessing.get_context("fork").Pool(workers) as processes:
        for done, (_, seconds) in enumerate(processes.imap_unordered(_write_shard, jobs), start=1):
            cpu += seconds
            if done % 10 == 0 or done == len(jobs):
                print(f"  wrote {done}/{len(jobs)} shard logs ({time.perf_counter() - started:.0f} s)", flush=True)
    elapsed = time.perf_counter() - started
    samples = len(jobs) * SHARD_PROMPTS * EPOCHS
    print(
        f"  generation: {samples:,} samples in {len(jobs)} logs, {elapsed:.0f} s wall, {cpu:.0f} s CPU "
        f"({cpu / samples * 1000:.2f} ms CPU per sample, {workers} processes)",
        flush=True,
    )
    return len(jobs), elapsed


def study(root: Path, records: int, workers: int) -> tuple[Path, float]:
    """The directory of the study with ``records`` records (hard links into the pool); (dir, seconds writing)."""
    n_models, n_prompts = SHAPES[records]
    pool = root / "pool"
    _, elapsed = write_pool(pool, records, workers)
    logs_dir = root / f"logs-{n_models}x{n_prompts}x{EPOCHS}"
    marker = logs_dir / "COMPLETE"
    if not marker.exists():
        shutil.rmtree(logs_dir, ignore_errors=True)
        logs_dir.mkdir(parents=True)
        for model in range(n_models):
            for shard in range(n_prompts // SHARD_PROMPTS):
                os.link(shard_path(pool, model, shard), logs_dir / shard_path(pool, model, shard).name)
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


def run_command(command: list[str]) -> tuple[float, float, float | None, int]:
    """Run ``command``; return (wall seconds, ru_maxrss MB, peak tree PSS MB or None, exit status)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
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


def main() -> None:
    """Write (or reuse) the studies, run the whole analyze command on each, print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "refusal-stability-scale",
        help="where logs are cached and reports written (default: %(default)s)",
    )
    parser.add_argument("--sizes", default=",".join(str(n) for n in SHAPES), help="comma-separated record counts")
    parser.add_argument("--workers", type=int, default=2, help="processes writing logs (default 2)")
    parser.add_argument("--generate-only", action="store_true", help="write the logs, run nothing")
    parser.add_argument("extra", nargs="*", help="extra analyze arguments (after --)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown:
        parser.error(f"--sizes {unknown}: expected some of {sorted(SHAPES)}")

    dirs = {}
    for records in sorted(sizes):
        logs_dir, elapsed = study(args.dir, records, args.workers)
        n_models, n_prompts = SHAPES[records]
        how = f"missing logs written in {elapsed:.0f} s" if elapsed else "cached"
        n_logs = n_models * n_prompts // SHARD_PROMPTS
        print(
            f"study records={records} shape={n_models}x{n_prompts}x{EPOCHS} logs={n_logs} in {logs_dir} ({how})",
            flush=True,
        )
        dirs[records] = logs_dir
    if args.generate_only:
        return

    lines = []
    for records in sorted(sizes):
        out_dir = args.dir / f"report-{records}"
        shutil.rmtree(out_dir, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "refusal_stability.cli",
            "analyze",
            str(dirs[records]),
            "--out",
            str(out_dir),
            "--quiet",
            *args.extra,
        ]
        seconds, maxrss_mb, pss_mb, code = run_command(command)
        if code != 0:
            sys.exit(f"analyze failed on {records} records (exit {code}): {' '.join(command)}")
        n_models, n_prompts = SHAPES[records]
        tree = f" tree_pss_mb={pss_mb:.0f}" if pss_mb is not None else ""
        ok = seconds <= TARGET_SECONDS and maxrss_mb <= TARGET_RSS_MB
        print(
            f"records={records} shape={n_models}x{n_prompts}x{EPOCHS} seconds={seconds:.2f} "
            f"peak_rss_mb={maxrss_mb:.0f}{tree} target={'met' if ok else 'missed'}",
            flush=True,
        )
        lines.append((records, seconds, maxrss_mb))
    if len(lines) > 1:
        base_records, base_seconds, _ = lines[0]
        ratios = " ".join(f"{r / base_records:.0f}x_records->{s / base_seconds:.2f}x_seconds" for r, s, _ in lines[1:])
        print(f"scaling (same run, vs {base_records:,} records): {ratios}", flush=True)
    final = [line for line in lines if line[0] == max(sizes)][0]
    print(f"records={final[0]} seconds={final[1]:.2f} peak_rss_mb={final[2]:.0f}")


if __name__ == "__main__":
    main()
