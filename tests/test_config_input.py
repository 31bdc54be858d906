"""Bad input to config never crashes and is never silently accepted (classes of input, not single examples)."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_config, parse_config, rules
from config.mwaa_reserved import RESERVED_OPTIONS
from scripts.derive_aws_regions import render as derive_regions
from tests.conftest import ROOT, run_app

ALL_OPTIONS: dict[str, Any] = tomllib.loads((ROOT / "config" / "examples" / "all-options.toml").read_text())
EXAMPLE: dict[str, Any] = tomllib.loads((ROOT / "config" / "environments.toml").read_text())
ARABIC_DIGITS = "\u0661" * 12  # twelve Arabic-Indic ones: Python's \d matches them, AWS does not


def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "test.toml")
    return raised.value.problems


def changed(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value in the document, tables and lists included, with its path."""
    if path:
        yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))


WRONG_SHAPES: dict[type, list[Any]] = {
    str: [7, True, 1.5, [], ["x"], [[1]], {"a": "b"}],
    int: ["7", True, 1.5, [], {"a": 1}],
    bool: ["true", 1, [], {}],
    list: ["x", 5, {"a": 1}, [[1]], [5], [{}], [2.5]],
    dict: ["x", 5, [1], [{"a": 1}]],
}
MUTATIONS = [
    (path, wrong)
    for base in (ALL_OPTIONS, EXAMPLE)
    for path, value in leaves(base)
    for wrong in WRONG_SHAPES[type(value)]
]


@pytest.mark.parametrize("base", [ALL_OPTIONS, EXAMPLE], ids=["all-options", "example"])
def test_a_value_of_the_wrong_shape_anywhere_is_a_problem_not_a_crash(base: dict[str, Any]) -> None:
    """Every field at every depth (tables, lists, list items) given each wrong type: a ConfigError naming it."""
    tried = 0
    for path, value in leaves(base):
        for wrong in WRONG_SHAPES[type(value)]:
            data = changed(base, path, wrong)
            try:
                parse_config(data, "test.toml")
            except ConfigError as error:
                named = [str(step) for step in path if isinstance(step, str)][-1]
                assert any(named in problem for problem in error.problems), (path, wrong, error.problems)
            else:
                pytest.fail(f"{path} = {wrong!r} was accepted")
            tried += 1
    assert tried > 300


def test_a_file_that_is_not_utf8_or_is_a_folder_gets_one_line(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes((ROOT / "config" / "environments.toml").read_bytes().replace(b"data-platform", b"donn\xe9es"))
    for path, expected in (
        (latin1, "is not UTF-8 text (byte "),
        (tmp_path, "is a folder; give the path of a .toml file"),
    ):
        result = run_app(path)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        header, problem = result.stderr.splitlines()
        assert header == f"error: 1 problem(s) in {path}:"
        assert problem.startswith(f"  - {expected}"), problem


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            '[environments.dev]\naccount = "1"\nregion = "eu-west-1"\naccount = "2"\n',
            "not valid TOML: duplicate key 'environments.dev.account' at line 4: a key may be set only once",
        ),
        (
            "[pipeline]\n[environments.dev]\n[pipeline]\n",
            "not valid TOML: duplicate table [pipeline] at line 3: each table may be declared only once",
        ),
        ("top = 1\ntop = 2\n", "not valid TOML: duplicate key 'top' at line 2: a key may be set only once"),
    ],
)
def test_a_duplicate_key_is_named(tmp_path: Path, document: str, expected: str) -> None:
    path = tmp_path / "dup.toml"
    path.write_text(document)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems == [expected]


def test_region_codes_come_from_botocore_and_the_committed_list_is_current() -> None:
    assert (ROOT / "config" / "data" / "aws_regions.json").read_text() == derive_regions(), (
        "run .venv/bin/python scripts/derive_aws_regions.py and commit config/data/aws_regions.json"
    )
    for region in ("eu-west-9", "eu-west", "EU-WEST-1", "moon-base-1"):
        data = changed(EXAMPLE, ("environments", "dev", "region"), region)
        assert any(p.startswith(f"environment 'dev': region = '{region}' is not allowed") for p in problems_for(data))


def test_a_region_without_a_service_the_stacks_use_is_refused() -> None:
    # botocore lists no MWAA endpoint in ap-east-2 and no CodeStar Notifications endpoint in eu-south-1.
    data = changed(EXAMPLE, ("environments", "dev", "region"), "ap-east-2")
    data["environments"]["dev"]["availability_zones"] = ["ap-east-2a", "ap-east-2b"]
    assert problems_for(data) == [
        "environment 'dev': region = 'ap-east-2' is not allowed; does not offer airflow, "
        "which an MWAA environment needs"
    ]
    data = changed(EXAMPLE, ("pipeline", "region"), "eu-south-1")
    data["pipeline"]["connection_arn"] = EXAMPLE["pipeline"]["connection_arn"].replace("eu-west-1", "eu-south-1")
    assert problems_for(data) == [
        "pipeline: region = 'eu-south-1' is not allowed; does not offer codestar-notifications, "
        "which the pipeline stack needs"
    ]


@pytest.mark.parametrize(
    "path",
    [
        ("environments", "dev", "account"),
        ("pipeline", "account"),
        ("environments", "dev", "weekly_maintenance_window_start"),
        ("pipeline", "connection_arn"),
    ],
)
def test_digits_of_other_scripts_are_not_digits(path: tuple[str, ...]) -> None:
    value = {
        "account": ARABIC_DIGITS,
        "weekly_maintenance_window_start": "SUN:\u0660\u0663:00",
        "connection_arn": EXAMPLE["pipeline"]["connection_arn"].replace("999999999999", ARABIC_DIGITS),
    }[path[-1]]
    problems = problems_for(changed(EXAMPLE, path, value))
    assert any(f"{path[-1]} = {value!r} is not allowed" in p for p in problems), problems


def test_every_pattern_in_the_rules_matches_ascii_only() -> None:
    patterns = {name: value for name, value in vars(rules).items() if isinstance(value, re.Pattern)}
    assert len(patterns) > 15
    assert [name for name, pattern in patterns.items() if not pattern.flags & re.ASCII] == []


def test_tags_within_aws_limits_pass_and_beyond_them_fail() -> None:
    most = {f"key{i}": "v" for i in range(rules.MAX_USER_TAGS)}
    parse_config(changed(EXAMPLE, ("environments", "dev", "tags"), most))
    assert problems_for(changed(EXAMPLE, ("environments", "dev", "tags"), {**most, "one-more": "v"})) == [
        f"environment 'dev': tags = '{rules.MAX_USER_TAGS + 1} tags' is not allowed; at most {rules.MAX_USER_TAGS}: "
        f"AWS allows 50 per resource and CDK adds up to {rules.CDK_OWN_TAGS} of its own"
    ]
    cases = {
        ("k" * 129, "v"): "tag keys must be 1 to 128 characters",
        ("team", "v" * 257): "tag values must be at most 256 characters",
        ("aws:team", "x"): "tag keys starting with 'aws:' are reserved for AWS",
        ("AWS:team", "x"): "tag keys starting with 'aws:' are reserved for AWS",
        ("team", "a;b"): "tags may hold only letters, digits, spaces and _ . : / = + - @",
        ("Team", "x"): "IAM treats tag keys case-insensitively; 'team' is already set",
    }
    for (key, value), expected in cases.items():
        data = changed(EXAMPLE, ("environments", "dev", "tags"), {"team": "data", key: value})
        problems = problems_for(data)
        assert len(problems) == 1 and problems[0].endswith(expected), (key, problems)
    parse_config(changed(EXAMPLE, ("environments", "dev", "tags"), {"équipe": "données", "cost center": "a/b:c"}))


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("core.default_task_retries", "", "values must be 1 to 65,536 printable ASCII characters"),
        ("core.default_task_retries", "x" * 65537, "values must be 1 to 65,536 printable ASCII characters"),
        ("core.executor", "LocalExecutor", "MWAA sets core.executor itself on Airflow 3.3.1 and overrides any value"),
        ("core.load_examples", "True", "MWAA sets core.load_examples itself"),
        ("database.sql_alchemy_conn", "sqlite://", "MWAA sets database.sql_alchemy_conn itself"),
        ("metrics.statsd_host", "example.com", "MWAA owns the metrics section for its CloudWatch integration"),
    ],
)
def test_airflow_options_mwaa_would_refuse_or_override_are_refused(option: str, value: str, expected: str) -> None:
    data = changed(EXAMPLE, ("environments", "dev", "airflow_configuration_options"), {option: value})
    [problem] = problems_for(data)
    assert problem.startswith("environment 'dev': airflow_configuration_options") and expected in problem, problem


def test_options_mwaa_honours_pass_and_the_reserved_list_follows_the_version() -> None:
    honoured = {"metrics.statsd_on": "False", "core.default_task_retries": "3", "celery.worker_autoscale": "5,5"}
    parse_config(changed(EXAMPLE, ("environments", "dev", "airflow_configuration_options"), honoured))
    assert set(RESERVED_OPTIONS) == set(rules.AIRFLOW_VERSIONS)
    data = changed(EXAMPLE, ("environments", "dev", "airflow_configuration_options"), {"core.multi_team": "True"})
    data["environments"]["dev"]["airflow_version"] = "3.0.6"
    parse_config(data)  # 3.0.6 has no multi-team option to override
    data["environments"]["dev"]["airflow_version"] = "3.2.1"
    [problem] = problems_for(data)
    assert "MWAA sets core.multi_team itself on Airflow 3.2.1" in problem


def test_a_connection_of_another_account_is_refused() -> None:
    arn = EXAMPLE["pipeline"]["connection_arn"].replace("999999999999", "111111111111")
    assert problems_for(changed(EXAMPLE, ("pipeline", "connection_arn"), arn)) == [
        f"pipeline: connection_arn = {arn!r} is not allowed; must be a connection of the tools account "
        "999999999999: a connection is usable only in its own account"
    ]


def test_files_dir_must_stay_inside_the_repository(repo_tmp: Path, tmp_path: Path) -> None:
    (repo_tmp / "out").symlink_to(tmp_path, target_is_directory=True)
    (repo_tmp / "files").mkdir()
    (repo_tmp / "files" / "requirements.txt").symlink_to(Path.home() / ".aws" / "credentials")
    inside = "must be a folder inside this repository, relative to its top, with no '..' and no link leading out"
    relative = repo_tmp.relative_to(ROOT)
    cases = {
        "../elsewhere": inside,
        "mwaa/../../elsewhere": inside,
        str(tmp_path): inside,
        "": inside,
        f"{relative}/out": inside + f" (it resolves to {tmp_path})",
        f"{relative}/files": f"{relative}/files/requirements.txt is a link leading out of the repository",
        "mwaa/nowhere": "must be an existing folder of this repository",
    }
    for value, expected in cases.items():
        [problem] = problems_for(changed(EXAMPLE, ("environments", "dev", "files_dir"), value))
        assert problem == f"environment 'dev': files_dir = {value!r} is not allowed; {expected}" or (
            problem.startswith(f"environment 'dev': files_dir = {value!r} is not allowed; ") and expected in problem
        ), problem
    env = parse_config(changed(EXAMPLE, ("environments", "dev", "files_dir"), "mwaa/prod")).environments[0]
    assert env.files_dir == ROOT / "mwaa" / "prod"


def test_an_unknown_environment_is_named_without_stray_quotes(capsys: pytest.CaptureFixture[str]) -> None:
    from dagtools.cli import main

    assert main(["sync", "--environment", "qa", "--dry-run"]) == 2
    assert capsys.readouterr().err == "error: no environment 'qa' in config (known: dev, prod)\n"


def test_the_most_user_tags_config_allows_fit_every_resource_cdk_makes(tmp_path: Path) -> None:
    """CDK adds tags of its own to some resources; config leaves exactly enough room for them."""
    from aws_cdk import App

    from stages import MwaaStage
    from tests.conftest import CDK_CONTEXT, stacks_of

    user_tags = {f"key{i:02d}": "v" for i in range(rules.MAX_USER_TAGS)}
    project = parse_config(changed(EXAMPLE, ("environments", "dev", "tags"), user_tags))
    app = App(context=CDK_CONTEXT, outdir=str(tmp_path))
    MwaaStage(app, env_config=project.environments[0], pipeline=project.pipeline)
    counts = []
    for stack in stacks_of(app.synth()).values():
        for resource in stack.template["Resources"].values():
            tags = resource.get("Properties", {}).get("Tags")
            if tags is not None:
                keys = [t["Key"] for t in tags] if isinstance(tags, list) else list(tags)
                assert set(user_tags) <= set(keys), resource["Type"]
                counts.append(len(keys))
    assert max(counts) == rules.MAX_TAGS_PER_RESOURCE  # the limit is reached, so CDK_OWN_TAGS is not too generous


def test_the_longest_environment_name_config_allows_synthesizes(tmp_path: Path) -> None:
    """Every role named after the environment (web-login roles included) must fit IAM's 64 characters."""
    from aws_cdk import App

    from config.model import ENVIRONMENT_NAME_MAX_FOR_IAM
    from stages import MwaaStage
    from tests.conftest import CDK_CONTEXT, stacks_of

    longest = "a" * ENVIRONMENT_NAME_MAX_FOR_IAM
    data = changed(EXAMPLE, ("environments", "dev", "environment_name"), longest)
    data["environments"]["dev"]["bucket_name"] = "a-bucket-for-the-longest-name"
    data["environments"]["dev"]["web_access"] = {
        role: ["arn:aws:iam::111111111111:role/x"] for role in rules.AIRFLOW_ROLES
    }
    project = parse_config(data)
    app = App(context=CDK_CONTEXT, outdir=str(tmp_path))
    MwaaStage(app, env_config=project.environments[0], pipeline=project.pipeline)
    names = [
        r["Properties"]["RoleName"]
        for stack in stacks_of(app.synth()).values()
        for r in stack.template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role" and "RoleName" in r.get("Properties", {})
    ]
    assert max(len(n) for n in names) == 64
    [problem] = problems_for(changed(data, ("environments", "dev", "environment_name"), longest + "a"))
    assert "must be at most 50 characters, so the role names derived from it (the longest: <name>-status-reader)" in (
        problem
    )
