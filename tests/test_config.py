"""Config validation: each bad value is reported with environment, field, value and what is allowed."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

from config import DEFAULT_CONFIG_PATH, ConfigError, ProjectConfig, parse_config
from tests.conftest import ROOT, run_app

EXAMPLE: dict[str, Any] = tomllib.loads(DEFAULT_CONFIG_PATH.read_text())


def with_dev(**changes: Any) -> dict[str, Any]:
    """The example config with fields of `dev` changed (a value of None removes the field)."""
    data = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if value is None:
            data["environments"]["dev"].pop(key, None)
        else:
            data["environments"]["dev"][key] = value
    return data


def problems_for(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "test.toml")
    return raised.value.problems


def only_problem(data: dict[str, Any]) -> str:
    problems = problems_for(data)
    assert len(problems) == 1, problems
    return problems[0]


def test_example_config_has_dev_then_prod(example_config: ProjectConfig) -> None:
    assert [e.stage for e in example_config.environments] == ["dev", "prod"]
    dev, prod = example_config.environments
    assert (dev.approval, prod.approval) == (False, True)
    assert (dev.protected, prod.protected) == (False, True)
    assert dev.bucket_name == "mwaa-dev-111111111111-eu-west-1"


def test_defaults_fill_what_is_left_out() -> None:
    qa = {"account": "333333333333", "region": "us-east-1", "vpc_cidr": "10.0.0.0/20", "approval": True}
    qa["availability_zones"] = ["us-east-1a", "us-east-1b"]
    project = parse_config({"pipeline": EXAMPLE["pipeline"], "environments": {"qa": qa}})
    env = project.environments[0]
    assert env.environment_name == "mwaa-qa"
    assert env.airflow_version == "3.3.1"
    assert env.environment_class == "mw1.small"
    assert (env.min_workers, env.max_workers, env.schedulers) == (1, 2, 2)
    assert env.weekly_maintenance_window_start == "SUN:03:00"
    assert dict(env.log_levels) == dict.fromkeys(("dag_processing", "scheduler", "task", "webserver", "worker"), "INFO")
    # MWAA itself forces core.load_examples off (and refuses other values silently); new DAG files are
    # found every 20 s instead of Airflow's 300 s.
    assert dict(env.airflow_configuration_options) == {"dag_processor.refresh_interval": "20"}
    assert env.allow_replacement is False


def test_config_options_override_our_defaults() -> None:
    mine = '{"connections_prefix": "mine/connections"}'
    data = with_dev(secrets_manager_prefix="airflow", airflow_configuration_options={"secrets.backend_kwargs": mine})
    env = parse_config(data).environments[0]
    assert env.airflow_configuration_options["secrets.backend_kwargs"] == mine
    assert env.airflow_configuration_options["secrets.backend"].endswith("SecretsManagerBackend")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"account": "12345"}, "environment 'dev': account = '12345' is not allowed; must be 12 digits"),
        ({"account": 111111111111}, "environment 'dev': account = 111111111111 is not allowed; must be a string"),
        (
            {"region": "Ireland"},
            "environment 'dev': region = 'Ireland' is not allowed; must be an AWS region code such as eu-west-1",
        ),
        (
            {"environment_name": "1-dev"},
            "environment 'dev': environment_name = '1-dev' is not allowed; must start with a letter",
        ),
        (
            {"environment_name": "dev.env"},
            "environment 'dev': environment_name = 'dev.env' is not allowed; must start with a letter and contain only",
        ),
        (
            {"bucket_name": "My_Bucket"},
            "environment 'dev': bucket_name = 'My_Bucket' is not allowed; must be 3 to 63 characters of lowercase",
        ),
        (
            {"bucket_name": "192.168.1.10"},
            "environment 'dev': bucket_name = '192.168.1.10' is not allowed; must not be formatted as an IP address",
        ),
        ({"bucket_name": "a..b"}, "environment 'dev': bucket_name = 'a..b' is not allowed; must not contain '..'"),
        ({"bucket_name": "xn--dags"}, "environment 'dev': bucket_name = 'xn--dags' is not allowed; uses a prefix"),
        (
            {"airflow_version": "2.10.3"},
            "environment 'dev': airflow_version = '2.10.3' is not allowed; must be one of 3.0.6, 3.2.1, 3.3.1 "
            "(the Airflow 3 versions MWAA offers)",
        ),
        (
            {"environment_class": "mw1.huge"},
            "environment 'dev': environment_class = 'mw1.huge' is not allowed; must be one of mw1.micro, mw1.small",
        ),
        ({"min_workers": 0}, "environment 'dev': min_workers = 0 is not allowed; must be at least 1"),
        ({"min_workers": 3}, "environment 'dev': min_workers = 3 is not allowed; must not exceed max_workers (2)"),
        ({"min_workers": "1"}, "environment 'dev': min_workers = '1' is not allowed; must be an integer"),
        ({"min_workers": True}, "environment 'dev': min_workers = True is not allowed; must be an integer"),
        (
            {"max_workers": 26},
            "environment 'dev': max_workers = 26 is not allowed; above 25 (the default MWAA quota) only with "
            "max_workers_quota_acknowledged = true",
        ),
        ({"schedulers": 1}, "environment 'dev': schedulers = 1 is not allowed; must be from 2 to 5 on mw1.small"),
        ({"schedulers": 6}, "environment 'dev': schedulers = 6 is not allowed; must be from 2 to 5 on mw1.small"),
        (
            {"min_webservers": 3, "max_webservers": 2},
            "environment 'dev': min_webservers = 3 is not allowed; must not exceed max_webservers (2)",
        ),
        ({"max_webservers": 6}, "environment 'dev': max_webservers = 6 is not allowed; must be from 2 to 5"),
        (
            {"webserver_access_mode": "PUBLIC"},
            "environment 'dev': webserver_access_mode = 'PUBLIC' is not allowed; must be one of PUBLIC_ONLY, "
            "PRIVATE_ONLY, PUBLIC_AND_PRIVATE",
        ),
        (
            {"webserver_access_mode": "PUBLIC_AND_PRIVATE", "airflow_version": "3.0.6"},
            "environment 'dev': webserver_access_mode = 'PUBLIC_AND_PRIVATE' is not allowed; "
            "needs Airflow 3.2 or later",
        ),
        (
            {"weekly_maintenance_window_start": "SUN:03:15"},
            "environment 'dev': weekly_maintenance_window_start = 'SUN:03:15' is not allowed; must be DAY:HH:MM",
        ),
        (
            {"weekly_maintenance_window_start": "SUNDAY:03:00"},
            "environment 'dev': weekly_maintenance_window_start = 'SUNDAY:03:00' is not allowed",
        ),
        ({"vpc_cidr": "10.0.0.0/33"}, "environment 'dev': vpc_cidr = '10.0.0.0/33' is not allowed; must be a private"),
        ({"vpc_cidr": "10.0.0.0/24"}, "environment 'dev': vpc_cidr = '10.0.0.0/24' is not allowed; must be a private"),
        ({"vpc_cidr": "8.8.0.0/16"}, "environment 'dev': vpc_cidr = '8.8.0.0/16' is not allowed; must be a private"),
        (
            {"availability_zones": ["eu-west-1a"]},
            "environment 'dev': availability_zones = ['eu-west-1a'] is not allowed; must be two different zones of "
            "eu-west-1",
        ),
        (
            {"availability_zones": ["us-east-1a", "us-east-1b"]},
            "environment 'dev': availability_zones = ['us-east-1a', 'us-east-1b'] is not allowed; must be two "
            "different zones of eu-west-1",
        ),
        (
            {"nat_gateways": 0},
            "environment 'dev': nat_gateways = 0 is not allowed; 0 needs endpoints = true: without NAT or VPC "
            "endpoints MWAA cannot reach S3",
        ),
        ({"nat_gateways": 3}, "environment 'dev': nat_gateways = 3 is not allowed; must be 0, 1 or 2"),
        (
            {"endpoint_management": "SHARED"},
            "environment 'dev': endpoint_management = 'SHARED' is not allowed; must be one of SERVICE, CUSTOMER",
        ),
        (
            {"vpc_cidr": None, "nat_gateways": None, "vpc_id": "vpc-0123456789abcdef0"},
            "environment 'dev': private_subnet_ids = [] is not allowed; an existing VPC needs exactly two private "
            "subnet IDs",
        ),
        (
            {
                "vpc_id": "vpc-0123456789abcdef0",
                "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            },
            "environment 'dev': vpc_cidr = {'vpc_cidr': '10.10.0.0/16', 'nat_gateways': 1} is not allowed; leave out "
            "vpc_cidr and nat_gateways when vpc_id names an existing VPC",
        ),
        (
            {
                "vpc_cidr": None,
                "nat_gateways": None,
                "vpc_id": "vpc-12",
                "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            },
            "environment 'dev': vpc_id = 'vpc-12' is not allowed; must look like vpc-0123456789abcdef0",
        ),
        (
            {"private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]},
            "environment 'dev': private_subnet_ids = ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'] is not "
            "allowed; only with vpc_id",
        ),
        (
            {
                "vpc_cidr": None,
                "nat_gateways": None,
                "vpc_id": "vpc-0123456789abcdef0",
                "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                "endpoints": True,
            },
            "environment 'dev': private_route_table_ids = [] is not allowed; endpoints = true in an existing VPC needs",
        ),
        (
            {"kms_key": "arn:aws:kms:us-east-1:111111111111:key/0b5e2f1c-3a4d-4e6f-8a9b-0c1d2e3f4a5b"},
            "environment 'dev': kms_key = 'arn:aws:kms:us-east-1:111111111111:key/"
            "0b5e2f1c-3a4d-4e6f-8a9b-0c1d2e3f4a5b' is not allowed; must be a key in the environment's region eu-west-1",
        ),
        ({"kms_key": "yes"}, "environment 'dev': kms_key = 'yes' is not allowed; must be \"create\" or a KMS key ARN"),
        (
            {"worker_replacement_strategy": "NOW"},
            "environment 'dev': worker_replacement_strategy = 'NOW' is not allowed; must be one of GRACEFUL, FORCED",
        ),
        ({"log_retention_days": 10}, "environment 'dev': log_retention_days = 10 is not allowed; must be a period"),
        ({"alarm_topic": "bad topic"}, "environment 'dev': alarm_topic = 'bad topic' is not allowed; must be an SNS"),
        (
            {"execution_role_statements": [{"actions": ["s3:*"], "resources": ["arn:aws:s3:::b/*"]}]},
            "environment 'dev': execution_role_statements[0].actions = 's3:*' is not allowed; must be one service "
            "action ('s3:GetObject'); no '*' or 'service:*'",
        ),
        (
            {"execution_role_statements": [{"actions": ["*"], "resources": ["*"]}]},
            "environment 'dev': execution_role_statements[0].actions = '*' is not allowed; must be one service action",
        ),
        (
            {"execution_role_statements": [{"actions": ["glue:StartJobRun"], "resources": ["arn:aws:glue:*"]}]},
            "environment 'dev': execution_role_statements[0].actions = 'glue:StartJobRun' is not allowed; is outside "
            "the permissions boundary: add it to bootstrap/permissions-boundary.json",
        ),
        (
            {"execution_role_statements": [{"actions": ["s3:GetObject"], "resource": ["arn:aws:s3:::b/*"]}]},
            "environment 'dev': execution_role_statements[0] = {'actions': ['s3:GetObject'], 'resource': "
            "['arn:aws:s3:::b/*']} is not allowed; must be a table with exactly `actions` and `resources`",
        ),
        (
            {"execution_role_managed_policies": ["AmazonAthenaFullAccess"]},
            "environment 'dev': execution_role_managed_policies = ['AmazonAthenaFullAccess'] is not allowed; must be "
            "a list of IAM managed policy ARNs",
        ),
        (
            {"web_access": {"Superuser": []}},
            "environment 'dev': web_access = 'Superuser' is not allowed; keys must be Airflow roles: Admin, Op, User, "
            "Viewer",
        ),
        (
            {"web_access": {"Admin": ["arn:aws:iam::222222222222:role/Admins"]}},
            "environment 'dev': web_access.Admin = ['arn:aws:iam::222222222222:role/Admins'] is not allowed; must be "
            "principals of the environment's account 111111111111",
        ),
        (
            {"secrets_manager_prefix": "airflow/*"},
            "environment 'dev': secrets_manager_prefix = 'airflow/*' is not allowed; must be a Secrets Manager name",
        ),
        (
            {"airflow_configuration_options": {"Core.Load": "x"}},
            "environment 'dev': airflow_configuration_options = 'Core.Load' is not allowed; keys must be "
            "'section.option'",
        ),
        (
            {"airflow_configuration_options": {"core.parallelism": 32}},
            "environment 'dev': airflow_configuration_options.core.parallelism = 32 is not allowed; values must be "
            "strings",
        ),
        (
            {"log_levels": {"task": "VERBOSE"}},
            "environment 'dev' log_levels: task = 'VERBOSE' is not allowed; must be one of CRITICAL, ERROR, WARNING",
        ),
        ({"log_levels": {"tasks": "INFO"}}, "environment 'dev' log_levels: unknown key 'tasks'"),
        ({"min_worker": 1}, "environment 'dev': unknown key 'min_worker' (known keys:"),
        ({"approval": "yes"}, "environment 'dev': approval = 'yes' is not allowed; must be true or false"),
        ({"account": None}, "environment 'dev': account is missing"),
    ],
)
def test_bad_value_is_named_with_what_is_allowed(changes: dict[str, Any], expected: str) -> None:
    assert only_problem(with_dev(**changes)).startswith(expected)


def test_nat_free_with_endpoints_and_an_existing_vpc_are_accepted() -> None:
    env = parse_config(with_dev(nat_gateways=0, endpoints=True)).environments[0]
    assert (env.nat_gateways, env.endpoints, env.vpc_id) == (0, True, None)
    existing = with_dev(
        vpc_cidr=None,
        nat_gateways=None,
        vpc_id="vpc-0123456789abcdef0",
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    env = parse_config(existing).environments[0]
    assert (env.vpc_cidr, env.vpc_id, env.private_subnet_ids) == (
        None,
        "vpc-0123456789abcdef0",
        ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1"),
    )


def test_protected_environments_default_to_a_private_web_server() -> None:
    data = with_dev(webserver_access_mode=None, protected=True)
    assert parse_config(data).environments[0].webserver_access_mode == "PRIVATE_ONLY"
    data = with_dev(webserver_access_mode=None)
    assert parse_config(data).environments[0].webserver_access_mode == "PUBLIC_ONLY"


def test_more_than_25_workers_with_quota_acknowledged() -> None:
    env = parse_config(with_dev(max_workers=40, max_workers_quota_acknowledged=True)).environments[0]
    assert env.max_workers == 40


def test_micro_takes_one_scheduler_and_one_webserver() -> None:
    data = with_dev(environment_class="mw1.micro", max_workers=1, schedulers=1, min_webservers=1, max_webservers=1)
    env = parse_config(data).environments[0]
    assert (env.schedulers, env.min_webservers, env.max_webservers) == (1, 1, 1)
    assert only_problem(with_dev(environment_class="mw1.micro", max_workers=1, min_webservers=1, max_webservers=1))


def test_public_and_private_needs_airflow_3_2() -> None:
    data = with_dev(webserver_access_mode="PUBLIC_AND_PRIVATE", airflow_version="3.2.1")
    assert parse_config(data).environments[0].webserver_access_mode == "PUBLIC_AND_PRIVATE"


def test_derived_bucket_name_too_long_says_to_set_it() -> None:
    problem = only_problem(with_dev(environment_name="a" * 50))
    assert "bucket_name (derived from environment_name, account and region; set it explicitly)" in problem


def test_unknown_top_level_key_is_rejected() -> None:
    data = copy.deepcopy(EXAMPLE)
    data["enviroments"] = {}
    assert only_problem(data).startswith("top level: unknown key 'enviroments'")


@pytest.mark.parametrize(
    ("region", "name"), [("eu-west-1", "mwaa-dev"), ("eu-central-1", "mwaa-dev"), ("eu-west-1", "MWAA-Dev")]
)
def test_same_account_and_name_twice_is_rejected_in_any_region(region: str, name: str) -> None:
    """IAM is global to an account and ignores case: the roles named after the environment would clash."""
    data = copy.deepcopy(EXAMPLE)
    prod = data["environments"]["prod"]
    prod.update(account="111111111111", environment_name=name, bucket_name="another-bucket-name", region=region)
    prod["availability_zones"] = [f"{region}a", f"{region}b"]
    assert only_problem(data) == (
        f"environment 'prod': environment_name = '{name}' in account 111111111111 is already used by environment "
        f"'dev' (region eu-west-1); the roles named after it ({name}-execution, ...) live in IAM, which is global "
        "to the account and ignores case, so each environment of an account needs its own name, whatever its region"
    )


def test_every_problem_is_listed_at_once() -> None:
    data = with_dev(account="1", min_workers=0, schedulers=9)
    data["environments"]["prod"]["region"] = "nowhere"
    problems = problems_for(data)
    assert len(problems) == 4
    assert [p.split(":")[0] for p in problems] == ["environment 'dev'"] * 3 + ["environment 'prod'"]


def test_bad_config_fails_synth_with_a_clear_message(tmp_path: Any) -> None:
    bad = tmp_path / "environments.toml"
    bad.write_text(
        DEFAULT_CONFIG_PATH.read_text().replace('account = "111111111111"', 'account = "1111"', 1)
        + '\n[environments.dev.network]\ncidr = "10.0.0.0/16"\n'
    )
    result = run_app(bad)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"error: 2 problem(s) in {bad}:",
        "  - environment 'dev': account = '1111' is not allowed; must be 12 digits (0-9)",
    ]
    assert lines[2].startswith("  - environment 'dev': unknown key 'network' (known keys: account, ")
    assert " vpc_cidr, " in lines[2] and len(lines) == 3


def test_invalid_toml_is_reported_without_traceback(tmp_path: Any) -> None:
    bad = tmp_path / "environments.toml"
    bad.write_text("[environments.dev\n")
    result = run_app(bad)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: 1 problem(s) in {bad}:\n  - not valid TOML:")
    assert "Traceback" not in result.stderr


def with_pipeline(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if value is None:
            data["pipeline"].pop(key, None)
        else:
            data["pipeline"][key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"connection_arn": None}, "pipeline: connection_arn is missing"),
        (
            {"connection_arn": "arn:aws:codecommit:eu-west-1:999999999999:my-repo"},
            "pipeline: connection_arn = 'arn:aws:codecommit:eu-west-1:999999999999:my-repo' is not allowed; must be "
            "a CodeConnections connection ARN",
        ),
        (
            {"repository": "https://github.com/example-org/mwaa-platform"},
            "pipeline: repository = 'https://github.com/example-org/mwaa-platform' is not allowed; must be "
            "'owner/name'",
        ),
        (
            {"repository": "mwaa-platform"},
            "pipeline: repository = 'mwaa-platform' is not allowed; must be 'owner/name'",
        ),
        ({"branch": "feature..x"}, "pipeline: branch = 'feature..x' is not allowed; must be a branch name"),
        ({"account": "9"}, "pipeline: account = '9' is not allowed; must be 12 digits"),
        ({"name": "Mwaa Platform"}, "pipeline: name = 'Mwaa Platform' is not allowed; must be lowercase letters"),
        ({"notification_topic": "a topic"}, "pipeline: notification_topic = 'a topic' is not allowed"),
        ({"sourcee": "x"}, "pipeline: unknown key 'sourcee'"),
    ],
)
def test_bad_pipeline_value_is_named(changes: dict[str, Any], expected: str) -> None:
    assert only_problem(with_pipeline(**changes)).startswith(expected)


def test_pipeline_section_is_required() -> None:
    data = copy.deepcopy(EXAMPLE)
    del data["pipeline"]
    assert only_problem(data) == "top level: pipeline is missing"


def test_approval_on_no_environment_is_rejected() -> None:
    data = copy.deepcopy(EXAMPLE)
    data["environments"]["prod"]["approval"] = False
    assert only_problem(data).startswith("environments: approval is set on no environment; set approval = true")


def test_every_config_key_is_documented_in_the_config_reference() -> None:
    reference = (ROOT / "docs" / "config-reference.md").read_text()
    for table, data in (("environment 'dev'", with_dev(undocumented_probe=1)), ("pipeline", with_pipeline(probe=1))):
        [problem] = problems_for(data)
        assert problem.startswith(f"{table}: unknown key")
        known = problem.split("(known keys: ")[1].rstrip(")").split(", ")
        assert len(known) > 5
        missing = [key for key in known if f"| `{key}` |" not in reference]
        assert missing == [], f"docs/config-reference.md lacks {missing}"
