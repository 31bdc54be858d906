"""DAG validation: rules on hand-written reports, then the real Airflow on the samples and bad fixtures."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH
from dagtools.check.airflow_venv import targets_to_check
from dagtools.check.command import evaluate
from dagtools.cli import main
from tests.conftest import ROOT

BAD_DAGS = ROOT / "tests" / "fixtures" / "bad_dags"
HOSTILE = ROOT / "tests" / "fixtures" / "hostile_dags"
LAYOUTS = ROOT / "tests" / "fixtures" / "mwaa_layouts"


def report(*files: dict[str, Any]) -> dict[str, Any]:
    return {"python": "3.12.1", "airflow": "3.0.6", "amazon_provider": "9.12.0", "files": list(files)}


def a_file(path: str, *dags: dict[str, Any], seconds: float = 0.01, errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "path": path,
        "seconds": seconds,
        "looks_like_dag": True,
        "timed_out": False,
        "import_errors": errors or [],
        "dags": list(dags),
        "parse_time_access": [],
        "unstable": [],
    }


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
        (a_dag(owners=["airflow"]), "DAG006", "DAG 'd' has owner airflow; set default_args={'owner': '<your team>'}"),
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


def verdicts(out: str) -> list[tuple[str, str, str]]:
    """(FAIL or WARN, file name, rule) for every finding printed (as `FAIL <folder>/<file>:<line>: <rule> ...`)."""
    return sorted(
        (line[:4], Path(line.split(" ", 2)[1].rstrip(":").rsplit(":", 1)[0]).name, line.split(" ", 3)[2])
        for line in out.splitlines()
        if line.startswith(("FAIL ", "WARN ")) and not line.startswith("FAIL " + "mwaa/")
    )


@pytest.mark.airflow
def test_bad_dags_fail_on_what_breaks_in_mwaa_and_warn_on_style(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--source", str(BAD_DAGS), "--environment", "dev", "--parse-budget", "1.0"]) == 1
    out = capsys.readouterr().out
    assert verdicts(out) == [
        ("FAIL", "broken_import.py", "DAG001"),
        ("FAIL", "duplicate_one.py", "DAG003"),
        ("FAIL", "duplicate_two.py", "DAG003"),
        ("FAIL", "slow_top_level.py", "DAG007"),
        ("WARN", "forgot_to_call.py", "DAG002"),
        ("WARN", "missing_tags.py", "DAG004"),
        ("WARN", "missing_tags.py", "DAG005"),
        ("WARN", "missing_tags.py", "DAG006"),
    ]
    assert "dag_id 'duplicated' is also defined in duplicate_two.py" in out
    assert "DAG 'missing_tags' has owner airflow" in out
    assert "over the 1 s budget" in out
    assert "if it is a helper, not a DAG file, list it in .airflowignore" in out


def test_a_repository_makes_warnings_errors_in_one_place(tmp_path: Path) -> None:
    from dagtools.check.command import ERRORS, error_rules

    assert error_rules(tmp_path / "missing.toml") == ERRORS
    assert {"DAG004", "DAG005", "DAG006", "AIR311"}.isdisjoint(error_rules())  # this repository: defaults
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.dagcheck]\nerrors = ["DAG004", "AIR311"]\n')
    assert error_rules(pyproject) == ERRORS | {"DAG004", "AIR311"}


@pytest.mark.airflow
def test_airflow_2_idioms_fail_the_lint_and_every_file_is_still_parsed() -> None:
    """One round for the author: ruff's verdicts and the parse's, together."""
    result = subprocess.run(
        ["scripts/dags-check.sh", "--source", "tests/fixtures/airflow2_dags", "--environment", "dev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "FAIL tests/fixtures/airflow2_dags/legacy.py:7: AIR301 `schedule_interval` is removed in Airflow 3.0: "
        "use `schedule` instead" in result.stdout  # ruff's own fix, kept
    )
    assert "legacy.py" in result.stdout.split("Parse time per file")[1]
    assert "got an unexpected keyword argument 'schedule_interval'" in result.stdout


@pytest.mark.airflow
def test_hostile_and_broken_files_each_get_their_own_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each file parses in its own process, with limits, from a throwaway folder with nothing to steal."""
    app_before = (ROOT / "app.py").read_text()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this check's own, apart from parallel tests'
    # A budget far above any file's but hangs.py's: swallowed_aws.py imports boto3, 0.3 s here when idle and
    # over 1 s on a busy 2-core CI machine.
    assert main(["check", "--source", str(HOSTILE), "--environment", "dev", "--parse-budget", "3.0"]) == 1
    out = capsys.readouterr().out
    assert [v for v in verdicts(out) if v[0] == "FAIL"] == [
        ("FAIL", "b_needs_state.py", "DAG001"),  # worked only after a_sets_state.py, in a shared process
        ("FAIL", "exits.py", "DAG001"),
        ("FAIL", "hangs.py", "DAG007"),
        ("FAIL", "memory_hog.py", "DAG001"),
        ("FAIL", "nosy.py", "DAG001"),
        ("FAIL", "swallowed_aws.py", "DAG008"),
        ("FAIL", "swallowed_variable.py", "DAG008"),
        ("FAIL", "twice_in_one_file.py", "DAG010"),
        ("FAIL", "unstable.py", "DAG009"),
    ]
    assert (
        "exits.py:1: DAG001 does not import, and would not in MWAA either: fix the error below\n"
        "      parsing this file ended the parser's process: it exited with code 3" in out
    )
    assert "hangs.py:1: DAG007 was stopped after " in out and "MemoryError" in out
    assert "swallowed_variable.py:7: DAG008 Variable.get('report_settings') at parse time" in out
    assert "swallowed_aws.py:8: DAG008 an AWS API call('ListBuckets') at parse time" in out
    assert "twice_in_one_file.py:9: DAG010 dag_id 'twice' is defined 2 times in this file" in out
    assert "unstable.py:8: DAG009 Don't use runtime-varying value as argument in Dag constructor" in out
    assert "a fixed pendulum.datetime(2026, 1, 1) as start_date" in out
    seen = out.split("RuntimeError: SEEN ")[1].splitlines()[0]
    assert "'aws_secret': None" in seen and "'aws_profile': None" in seen
    assert "'stages_importable': False" in seen and "'dagtools_importable': False" in seen
    assert f"'cwd': '{ROOT}'" not in seen and f"'home': '{Path.home()}'" not in seen
    assert (ROOT / "app.py").read_text() == app_before
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    assert "10 file(s)" in out


@pytest.mark.airflow
def test_layouts_mwaa_supports_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Helpers beside the DAGs and in subfolders (even one named config.py), and a zipped DAG with its helper."""
    dags = tmp_path / "dags"
    shutil.copytree(LAYOUTS, dags)
    dag_file = (LAYOUTS / "uses_helpers.py").read_text()
    with zipfile.ZipFile(dags / "packaged.zip", "w") as archive:
        archive.writestr(
            "packaged_dag.py",
            dag_file.replace("def uses_helpers", "def packaged")
            .replace("uses_helpers()", "packaged()")
            .replace("from common.helpers import", "from packaged_helpers import"),
        )
        archive.writestr("packaged_helpers.py", "def partition_key(ds):\n    return ds\n")
    with zipfile.ZipFile(dags / "broken.zip", "w") as archive:
        archive.writestr("broken_dag.py", "from airflow.sdk import dag\nimport not_installed_anywhere\n")
    assert main(["check", "--source", str(dags), "--environment", "dev"]) == 1
    out = capsys.readouterr().out
    assert verdicts(out) == [("FAIL", "broken.zip", "DAG001")]
    assert "No module named 'not_installed_anywhere'" in out
    assert "5 file(s), 2 DAG(s): 1 error(s)" in out  # helpers, the DAG, and both zips


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


TWICE_WITH_BLOCKS = '''"""Two different DAGs built with `with` blocks under one dag_id: Airflow keeps one of them."""
import pendulum
from airflow.sdk import DAG, task

ARGS = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1), "tags": ["t"], "default_args": {"owner": "o"}}

with DAG(dag_id="twice_with", description="the first", **ARGS):
    task(lambda: 1, task_id="one")()

with DAG(dag_id="twice_with", description="the second", **ARGS):
    task(lambda: 2, task_id="two")()
'''
AIRFLOWS_VIEW = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({dag_id: dag.description for dag_id, dag in bag.dags.items()}))
"""


@pytest.mark.airflow
def test_dag010_counts_distinct_dags_as_airflow_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Airflow's own example_bash_operator yields one DAG object twice from `DagBag.process_file`: not two DAGs.
    Two `with DAG("twice_with")` blocks are two DAGs, and Airflow silently keeps one of them (which one, the order
    of a set decides)."""
    from dagtools.check.airflow_venv import airflow_python

    environment = "dev"  # Airflow 3.3.1; 3.2.1 returns the example's DAG object twice too
    [target] = targets_to_check([environment])
    python = airflow_python(target)
    dags = tmp_path / "dags"
    dags.mkdir()
    [example] = python.parents[1].glob(
        "lib/python3.12/site-packages/airflow/providers/standard/example_dags/example_bash_operator.py"
    )
    shutil.copy(example, dags / "example_bash_operator.py")
    (dags / "twice_with_blocks.py").write_text(TWICE_WITH_BLOCKS)
    seen = subprocess.run(
        [str(python), "-c", AIRFLOWS_VIEW, str(dags)],
        env={"AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    airflows_view = json.loads(seen.stdout.strip().splitlines()[-1])
    assert sorted(airflows_view) == ["example_bash_operator", "twice_with"]
    assert airflows_view["twice_with"] in ("the first", "the second")

    assert main(["check", "--source", str(dags), "--environment", environment]) == 1
    out = capsys.readouterr().out
    assert [v for v in verdicts(out) if v[2] == "DAG010"] == [("FAIL", "twice_with_blocks.py", "DAG010")]
    assert "dag_id 'twice_with' is defined 2 times in this file" in out


AUTHORS_FIRST_DAG = '''"""A new author's DAG, with two Airflow 2 habits."""
import pendulum
from airflow.sdk import DAG, Variable, task

TARGETS = Variable.get("greeting_targets")

with DAG(
    "authors_first_dag",
    schedule_interval="@daily",
    start_date=pendulum.datetime(2026, 1, 1),
    tags=["greetings"],
    description="greets",
    default_args={"owner": "data"},
):
    task(lambda: TARGETS, task_id="greet")()
'''
AUTHORS_FIX = (
    AUTHORS_FIRST_DAG.replace('TARGETS = Variable.get("greeting_targets")\n', "")
    .replace("schedule_interval=", "schedule=")
    .replace("task(lambda: TARGETS,", 'task(lambda: Variable.get("greeting_targets"),')
)


@pytest.mark.airflow
def test_a_new_authors_findings_each_name_the_line_say_how_to_fix_and_come_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`schedule_interval=` and a top-level Variable.get, on both environments' Airflow: each finding once,
    at dags/<file>:<line>, with its fix, and no frame of the check's own; then the fix passes."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "authors_first_dag.py").write_text(AUTHORS_FIRST_DAG)
    assert main(["check", "--source", str(dags)]) == 1
    out = capsys.readouterr().out
    findings = [line for line in out.splitlines() if line.startswith(("FAIL ", "WARN "))]
    folder = str(dags)  # outside the repository: shown as it is
    assert f"FAIL {folder}/authors_first_dag.py:9: AIR301 `schedule_interval` is removed in Airflow 3.0: " in out
    assert "use `schedule` instead" in out
    [parse_time] = [line for line in findings if "DAG008" in line]  # once, for both versions
    assert parse_time.startswith(f"FAIL {folder}/authors_first_dag.py:5: DAG008 Variable.get('greeting_targets')")
    assert parse_time.endswith(
        "read it inside a task, or in a template ({{ var.value.name }}, {{ conn.name }}), instead"
    )
    assert not [line for line in findings if "DAG001" in line]  # the parse-time read is the cause, said once
    assert all(line.split(" ", 2)[1].startswith(f"{folder}/authors_first_dag.py:") for line in findings)
    assert "airflow_probe" not in out and "dagcheck-" not in out

    (dags / "authors_first_dag.py").write_text(AUTHORS_FIX)
    assert main(["check", "--source", str(dags), "--environment", "dev"]) == 0, capsys.readouterr().out
