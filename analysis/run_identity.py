"""A run's identity: everything that changes what the model saw or how its answers were judged; names by it.

Logs pool into one run, or count as replicates of one run, only when their identities match
(:func:`run_identity`); otherwise they are different runs, named apart (:func:`separate_runs`). The identity of
a log is, from its header and its records:

- the model: its full name (a local model's whole path, never only its folder name), the base URL given, the
  model args that change outputs (not the API key, bind host or timeouts) and the generate config given on the
  command line (not connection or retry settings);
- the grid as sent: where every epoch's request was verified (``sent_verified``), the temperatures and seeds the
  requests carried ("default"/"none" when a provider received none); else the grid the task asked for;
- the system prompt the model received (the task metadata's exact text, else the argument as given);
- every other task argument (max_tokens, top_p, dataset, n_prompts, condition, judge, grader template ...),
  except those that cannot change a label (verdict cache folder, grader attempts);
- the prompt set's SHA-256 when the log records it (task metadata ``prompt_set_sha256``);
- the models bound to roles (the grader), without credentials.

Shards of one run (disjoint prompts, the same identity) stay one run; so do re-runs of one identity (they become
replicates, ``model (run 2)``). Label CSVs carry no identity and are named as written.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from refusal_stability.analysis.log_info import LogInfo
from refusal_stability.analysis.tidy import run_name
from refusal_stability.definitions.grid import GridError, parse_seeds, parse_temperatures

__all__ = ["RunIdentity", "run_identity", "separate_runs"]

# model args that reach no model: credentials, the address a started server binds, client timeouts
NOT_OUTPUT_MODEL_ARGS = frozenset(("api_key", "host", "timeout", "max_retries", "retry_delay", "http_client"))
# generate-config fields that change how requests are sent, not what comes back
NOT_OUTPUT_GENERATE = frozenset(
    (
        "max_retries",
        "timeout",
        "attempt_timeout",
        "stream_idle_timeout",
        "max_connections",
        "adaptive_connections",
        "extra_headers",
        "cache",
        "cache_prompt",
        "batch",
        "fallback_models",
    )
)
# task arguments that cannot change what the model saw or a label; the grid and system prompt are read apart
NOT_IDENTITY_TASK_ARGS = frozenset(("verdict_cache_dir", "grader_attempts", "temperatures", "seeds", "system_prompt"))
_SHORT = 32  # longer values show as a prefix plus a hash in run names


def _plain(value: Any) -> Any:
    """``value`` with integral floats as ints (``1.0`` and ``1`` are one setting) and tuples as lists."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class RunIdentity:
    """The settings that make a run what it is, as (name, canonical JSON value) pairs in a fixed order."""

    fields: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """SHA-256 of the fields: equal keys, the same run."""
        return hashlib.sha256(_canonical(self.fields).encode("utf-8")).hexdigest()

    def field(self, name: str) -> Any:
        """The value of one field (None when absent)."""
        return next((json.loads(text) for key, text in self.fields if key == name), None)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name."""
        return {key: json.loads(text) for key, text in self.fields}


def _asked_grid(args: dict[str, Any]) -> tuple[Any, Any]:
    """The temperatures and seeds the task asked for, sorted (their order does not change the draws)."""
    try:
        temperatures: Any = sorted(parse_temperatures(args["temperatures"]))
    except (GridError, KeyError):
        temperatures = args.get("temperatures")
    try:
        seeds: Any = sorted(parse_seeds(args["seeds"]))
    except (GridError, KeyError):
        seeds = args.get("seeds")
    return temperatures, seeds


def _sent_grid(rows: pd.DataFrame | None) -> tuple[Any, Any] | None:
    """The temperatures and seeds the requests carried, when every epoch's request was verified; else None."""
    if rows is None or "sent_verified" not in rows.columns or rows.empty:
        return None
    verified = rows["sent_verified"]
    if verified.isna().any() or not verified.astype(bool).all():
        return None

    def values(column: str, missing: str) -> list[Any]:
        found = rows[column] if column in rows.columns else pd.Series([None] * len(rows))
        present = sorted({_plain(float(v) if column == "sent_temperature" else int(v)) for v in found.dropna()})
        return present + ([missing] if found.isna().any() else [])

    return values("sent_temperature", "default"), values("sent_seed", "none")


def _roles(spec: Any) -> dict[str, Any] | None:
    """The models bound to roles (the grader): name, base URL and args, without credentials."""
    roles = spec.model_roles or {}
    out: dict[str, Any] = {}
    for role, configs in roles.items():
        listed = configs if isinstance(configs, list) else [configs]
        out[role] = [
            {
                "model": config.model,
                "base_url": config.base_url,
                "args": {k: v for k, v in (config.args or {}).items() if k not in NOT_OUTPUT_MODEL_ARGS},
            }
            for config in listed
        ]
    return out or None


def run_identity(header: Any, rows: pd.DataFrame | None = None) -> RunIdentity:
    """The identity of the run one log holds (see the module docstring for what it covers).

    Args:
        header: the log (a header-only read is enough): ``header.eval`` is its EvalSpec.
        rows: the log's tidy rows; their ``sent_*`` columns, where present, give the grid as sent.

    Returns:
        The RunIdentity; two logs with equal ``key`` may pool or be replicates, others never.
    """
    spec = header.eval
    args = dict(spec.task_args or {})
    metadata = spec.metadata or {}
    generate = spec.model_generate_config.model_dump(exclude_none=True) if spec.model_generate_config else {}
    temperatures, seeds = _sent_grid(rows) or _asked_grid(args)
    system_prompt = metadata["system_prompt"] if "system_prompt" in metadata else args.get("system_prompt")
    fields: list[tuple[str, Any]] = [
        ("model", spec.model),
        ("base_url", spec.model_base_url),
        ("model_args", {k: v for k, v in (spec.model_args or {}).items() if k not in NOT_OUTPUT_MODEL_ARGS}),
        ("generate_config", {k: v for k, v in generate.items() if k not in NOT_OUTPUT_GENERATE}),
        ("temperatures", temperatures),
        ("seeds", seeds),
        ("system_prompt", system_prompt),
        ("prompt_set_sha256", metadata.get("prompt_set_sha256")),
        ("task", str(spec.task).rsplit("/", 1)[-1]),
        ("model_roles", _roles(spec)),
    ]
    fields += sorted((name, value) for name, value in args.items() if name not in NOT_IDENTITY_TASK_ARGS)
    return RunIdentity(tuple((name, _canonical(value)) for name, value in fields))


def _shown(value: Any) -> str:
    """A setting's value as a run name shows it: short values verbatim, long ones by prefix and hash."""
    if value is None:
        return "none"
    if isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, str):
        text = value
    else:
        text = _canonical(value)
    if len(text) <= _SHORT and "\n" not in text and "\r" not in text:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{' '.join(text.split())[:20]}… #{digest}"


def _differing(identities: Sequence[RunIdentity]) -> list[str]:
    """Names of the fields whose values are not the same in every identity (in field order)."""
    names = list(dict.fromkeys(name for identity in identities for name, _ in identity.fields))
    return [name for name in names if len({dict(identity.fields).get(name) for identity in identities}) > 1]


def _distinct_name(identity: RunIdentity, base: str, condition: str | None, differing: list[str]) -> str:
    """The run name of one identity among others of the same display name: the settings that differ in it."""
    name = run_name(str(identity.field("model")), condition) if "model" in differing else base
    settings = [f"{field}={_shown(identity.field(field))}" for field in differing if field != "model"]
    return f"{name} ({'; '.join(settings)})" if settings else name


def separate_runs(frame: pd.DataFrame, sources: Sequence[LogInfo]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Give logs of one run name but different identities run names of their own.

    Logs whose run name (display model and condition) is shared but whose identities differ are named by what
    differs: the full model path where folder names collide, then ``(setting=value; ...)``. Logs of equal
    identity keep one name (and pool, or become replicates in ``name_replicates``). Each renamed log's
    ``LogInfo.models`` is updated.

    Args:
        frame: the tidy frame of every input.
        sources: what each input file contributed (``LogInfo.identity`` of each log).

    Returns:
        The frame with the new run names in ``model``, and the new name of each renamed log (by path).
    """
    by_name: dict[str, list[LogInfo]] = {}
    for info in sources:
        if info.is_log and info.identity is not None and len(info.models) == 1:
            by_name.setdefault(info.models[0], []).append(info)
    renamed: dict[str, str] = {}
    conditions = frame.drop_duplicates("origin").set_index(frame.drop_duplicates("origin")["origin"].astype(str))
    for name, infos in by_name.items():
        identities = {info.identity.key: info.identity for info in infos if info.identity is not None}
        if len(identities) < 2:
            continue
        differing = _differing(list(identities.values()))
        for info in infos:
            assert info.identity is not None
            condition = conditions["condition"].get(info.path) if info.path in conditions.index else None
            condition = condition if isinstance(condition, str) and condition else None
            renamed[info.path] = _distinct_name(info.identity, name, condition, differing)
            info.models = [renamed[info.path]]
    if not renamed:
        return frame, {}
    names = frame["origin"].astype(str).map(renamed).fillna(frame["model"].astype(str))
    frame = frame.copy()
    frame["model"] = pd.Categorical(names, categories=sorted(names.unique()))
    return frame, renamed
