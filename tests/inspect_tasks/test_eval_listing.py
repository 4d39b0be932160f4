"""inspect_tasks/eval.yaml (the listing) agrees with the code: version, task names, sample count, datasets."""

from pathlib import Path

import yaml

from refusal_stability import __version__
from refusal_stability.inspect_tasks import datasets
from refusal_stability.inspect_tasks.refusal_stability import DEFAULT_N_PROMPTS, refusal_stability

LISTING = yaml.safe_load((Path(__file__).resolve().parents[2] / "inspect_tasks" / "eval.yaml").read_text())


def test_the_listing_has_the_fields_of_an_inspect_evals_listing() -> None:
    assert {"title", "description", "group", "version", "tasks"} <= set(LISTING)


def test_the_task_and_the_listing_carry_the_package_version() -> None:
    assert LISTING["version"] == __version__
    assert refusal_stability(dataset="bundled", judge="heuristic").version == __version__


def test_the_listed_task_is_the_task_with_its_default_prompt_count() -> None:
    assert [t["name"] for t in LISTING["tasks"]] == [refusal_stability.__name__]
    assert LISTING["tasks"][0]["dataset_samples"] == DEFAULT_N_PROMPTS


def test_the_listed_datasets_name_the_code_s_sources() -> None:
    by_name = {d["name"]: d for d in LISTING["datasets"]}
    assert set(by_name) == {"beavertails", "bundled", "local file"}
    beavertails = by_name["beavertails"]
    assert beavertails["source"].startswith(f"{datasets.BEAVERTAILS_PATH}, split {datasets.BEAVERTAILS_SPLIT}")
    assert beavertails["revision"].startswith(f"{datasets.BEAVERTAILS_REVISION} by default")
    assert f"data/{datasets.BUNDLED_FILE}: {len(datasets.load_bundled())} " in by_name["bundled"]["source"]
    assert [a["source"] for a in LISTING["external_assets"]] == [datasets.BEAVERTAILS_PATH]
