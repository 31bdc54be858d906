"""DAG validation: rules on hand-written reports, then the real Airflow on the samples and bad fixtures."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH
from dagtools.check import evaluate, targets_to_check
from dagtools.cli import main
from tests.conftest import ROOT

BAD_DAGS = ROOT / "tests" / "fixtures" / "bad_dags"


def report(*files: dict[str, Any]) -> dict[str, Any]:
    return {"python": "3.12.1", "airflow": "3.0.6", "amazon_provider": "9.12.0", "files": list(files)}


def a_file(path: str, *dags: dict[str, Any], seconds: float = 0.01, errors: list[str] | None = None) -> dict[str, Any]:
    return {"path": path, "seconds": seconds, "looks_like_dag": True, "import_errors": errors or [], "dags": list(dags)}


def a_dag(dag_id: str = "d", **overrides: Any) -> dict[str, Any]:
    return {"dag_id": dag_id, "tags": ["t"], "description": "does a thing", "owners": ["team"], "tasks": 1, **overrides}


def rules(problems: list[Any]) -> list[tuple[str, str]]:
    return [(p.path, p.rule) for p in problems]


def test_a_good_file_has_no_problem() -> None:
    assert evaluate(report(a_file("good.py", a_dag())), budget=2.0) == []


@pytest.mark.parametrize(
    ("dag", "rule", "text"),
    [
        (a_dag(tags=[]), "DAG004", "DAG 'd' has no tags"),
        (a_dag(description="  "), "DAG005", "DAG 'd' has no description"),
        (a_dag(owners=["airflow"]), "DAG006", "DAG 'd' has owner airflow; set default_args owner to a team"),
        (a_dag(owners=[]), "DAG006", "DAG 'd' has owner unset"),
        (a_dag(owners=["team", "airflow"]), "DAG006", "has owner team, airflow"),
    ],
)
def test_dag_attribute_rules(dag: dict[str, Any], rule: str, text: str) -> None:
    [problem] = evaluate(report(a_file("x.py", dag)), budget=2.0)
    assert (problem.rule, problem.path) == (rule, "x.py")
    assert text in problem.message


def test_import_error_no_dag_slow_file_and_duplicates() -> None:
    problems = evaluate(
        report(
            a_file("broken.py", errors=["Traceback ...\nModuleNotFoundError: No module named 'x'"]),
            a_file("empty.py"),
            a_file("slow.py", a_dag("slow"), seconds=2.5),
            a_file("one.py", a_dag("same")),
            a_file("two.py", a_dag("same")),
            {**a_file("helper.py"), "looks_like_dag": False},
        ),
        budget=2.0,
    )
    assert rules(problems) == [
        ("broken.py", "DAG001"),
        ("empty.py", "DAG002"),
        ("slow.py", "DAG007"),
        ("one.py", "DAG003"),
        ("two.py", "DAG003"),
    ]
    assert "No module named 'x'" in problems[0].message
    assert "took 2.50 s to parse, over the 2 s budget" in problems[2].message
    assert "dag_id 'same' is also defined in two.py" in problems[3].message


def test_each_airflow_version_in_config_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "environments.toml"
    text = DEFAULT_CONFIG_PATH.read_text()
    prod_at = text.index("[environments.prod]")
    config.write_text(text[:prod_at] + text[prod_at:].replace('airflow_version = "3.2.1"', 'airflow_version = "3.0.6"'))
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    targets = [(t.version, t.requirements, t.plugins, t.stages) for t in targets_to_check(None)]
    prod_files = ROOT / "mwaa" / "prod"
    assert targets == [
        ("3.3.1", None, None, ("dev",)),
        ("3.0.6", prod_files / "requirements.txt", prod_files / "plugins", ("prod",)),
    ]
    assert [t.stages for t in targets_to_check(["prod"])] == [("prod",)]


def test_every_offered_airflow_version_has_committed_pins() -> None:
    from config.rules import AIRFLOW_VERSIONS

    for version in AIRFLOW_VERSIONS:
        pins = (ROOT / "dagtools" / "requirements" / f"airflow-{version}.txt").read_text()
        assert f"apache-airflow=={version}\n" in pins


@pytest.mark.airflow
def test_sample_dags_pass_with_the_configured_airflow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--source", str(ROOT / "dags")]) == 0
    out = capsys.readouterr().out
    assert "Airflow 3.3.1 (Amazon provider 9.34.0) on Python 3.12." in out
    assert "Airflow 3.2.1 (Amazon provider 9.25.0) on Python 3.12." in out
    assert out.count("3 file(s), 3 DAG(s): OK") == 2  # dev, and prod with its requirements.txt
    assert "for dev\n" in out
    assert "for prod\nwith mwaa/prod/requirements.txt installed against the pins\n" in out
    assert "with mwaa/prod/plugins on the path, as MWAA puts plugins.zip" in out
    assert out.index("Parse time per file, slowest first:") < out.index("daily_orders_summary.py")


@pytest.mark.airflow
def test_bad_dags_fail_each_with_its_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--source", str(BAD_DAGS), "--environment", "dev", "--parse-budget", "1.0"]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL ")]
    summary = sorted(line.split(" ", 3)[1:3] for line in failures)
    assert summary == [
        ["broken_import.py:", "DAG001"],
        ["duplicate_one.py:", "DAG003"],
        ["duplicate_two.py:", "DAG003"],
        ["forgot_to_call.py:", "DAG002"],
        ["missing_tags.py:", "DAG004"],
        ["missing_tags.py:", "DAG005"],
        ["missing_tags.py:", "DAG006"],
        ["slow_top_level.py:", "DAG007"],
    ]
    text = "\n".join(failures)
    assert "import error:" in text
    assert "dag_id 'duplicated' is also defined in duplicate_two.py" in text
    assert "DAG 'missing_tags' has owner airflow" in text
    assert "over the 1 s budget" in text


def test_airflow_2_idioms_fail_the_lint_before_any_parse() -> None:
    result = subprocess.run(
        ["scripts/dags-check.sh", "--source", "tests/fixtures/airflow2_dags"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "AIR301 [*] `schedule_interval` is removed in Airflow 3.0" in result.stdout
    assert "Parse time per file" not in result.stdout


@pytest.mark.airflow
def test_requirements_that_conflict_with_the_pins_fail(
    tmp_path: Path, repo_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = repo_tmp
    (files / "requirements.txt").write_text("tenacity==8.0.0\n")
    config = tmp_path / "environments.toml"
    config.write_text(
        DEFAULT_CONFIG_PATH.read_text().replace(
            "log_retention_days = 30\n", f'log_retention_days = 30\nfiles_dir = "{files.relative_to(ROOT)}"\n', 1
        )
    )
    monkeypatch.setenv("MWAA_CONFIG", str(config))
    monkeypatch.setenv("DAGCHECK_VENV_ROOT", str(ROOT))
    assert main(["check", "--source", str(ROOT / "dags"), "--environment", "dev"]) == 1
    out = capsys.readouterr().out
    assert (
        f"FAIL {(files / 'requirements.txt').relative_to(ROOT)} does not install against the pins of Airflow 3.3.1"
        in out
    )
    assert "tenacity" in out and "Parse time per file" not in out


@pytest.mark.airflow
def test_dags_may_import_the_environments_plugins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "quarterly.py").write_text(
        (ROOT / "dags" / "daily_orders_summary.py")
        .read_text()
        .replace(
            "from airflow.sdk import dag, task", "from airflow.sdk import dag, task\nfrom team_macros import quarter"
        )
        .replace("def daily_orders_summary", "def quarterly")
        .replace("daily_orders_summary()", "quarterly()")
    )
    assert main(["check", "--source", str(dags), "--environment", "prod"]) == 0
    assert "1 file(s), 1 DAG(s): OK" in capsys.readouterr().out
    assert main(["check", "--source", str(dags), "--environment", "dev"]) == 1
    assert "No module named 'team_macros'" in capsys.readouterr().out


KEY_PACKAGES = ("apache-airflow", "apache-airflow-task-sdk", "apache-airflow-providers-amazon", "boto3", "pendulum")


@pytest.mark.parametrize("version", ["3.0.6", "3.2.1", "3.3.1"])
def test_pins_are_what_the_mwaa_image_installs(version: str) -> None:
    """Every package of MWAA's bill of materials is pinned at the image's version (key ones named)."""
    from config.rules import AIRFLOW_VERSIONS

    assert version in AIRFLOW_VERSIONS

    def read(name: str) -> dict[str, str]:
        lines = (ROOT / "dagtools" / "requirements" / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if line and not line.startswith("#"))

    pins, bom = read(f"airflow-{version}.txt"), read(f"mwaa-bom-{version}.txt")
    assert pins["apache-airflow"] == version
    for package in KEY_PACKAGES:
        if package in bom:
            assert pins[package] == bom[package], package
    assert {name: pins.get(name) for name in bom if name != "psycopg2"} == {
        name: version for name, version in bom.items() if name != "psycopg2"
    }
    assert "psycopg2-binary" in pins  # the same module as the psycopg2 left out (it has no wheels)
    # 3.0.6's bill of materials omits the providers; MWAA's user guide lists the Amazon provider it preinstalls.
    assert pins["apache-airflow-providers-amazon"] == {"3.0.6": "9.12.0", "3.2.1": "9.25.0", "3.3.1": "9.34.0"}[version]
