"""`python -m dagtools sync`: publish a DAG folder to an environment's bucket by content hash, then (as
the DAG pipeline runs it) wait until the environment's Airflow serves the new files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from aws_clients import describe_error
from dagtools.live.wait import CALLS_PER_ROUND, MWAA_COPY_INTERVAL, DagIndex, DagIndexError, airflow_reader
from dagtools.options import (
    MAX_CONCURRENCY,
    ROLE_ARN_OPTION,
    bucket_name,
    option,
    positive_seconds,
    region_code,
    whole_number,
)
from dagtools.sync.engine import (
    ConcurrentSyncError,
    DagSync,
    Plan,
    SafetyError,
    SyncError,
    SyncInterrupted,
    is_permanent,
    normalize_prefix,
)
from dagtools.sync.source import SourceError, check_key_lengths, scan_source

if TYPE_CHECKING:
    from dagtools.live.wait import AirflowReader, Upload

LISTED_NAMES = 50  # names printed per plan section; the JSON summary has them all
PROGRESS_MIN_UPLOADS = 20
RETRY_MODES = ("legacy", "standard", "adaptive")


def add_sync_command(commands: Any, environment_keys: str) -> None:
    sync = commands.add_parser(
        "sync",
        help="publish a DAG folder to an environment's bucket, by content hash",
        epilog="example: python -m dagtools sync --environment dev --dry-run",
    )
    sync.add_argument("--source", type=Path, default=Path("dags"), help="local DAG folder (default: dags)")
    sync.add_argument(
        "--bucket",
        type=option(bucket_name, "must be an S3 bucket name"),
        help="target bucket (default: the --environment's bucket from config)",
    )
    sync.add_argument(
        "--prefix",
        default="dags/",
        type=option(normalize_prefix, "must be a key prefix such as dags/ (never the whole bucket)"),
        help="key prefix in the bucket (default: dags/)",
    )
    sync.add_argument(
        "--environment",
        metavar=environment_keys,
        help="an environment of config/environments.toml: its bucket, owner and region (and more, see below)",
    )
    sync.add_argument(
        "--role-arn",
        type=ROLE_ARN_OPTION,
        help="assume this role first (cross-account sync)",
    )
    sync.add_argument(
        "--assume-sync-role",
        action="store_true",
        help="assume the --environment's DAG sync role (from config), as the pipeline does",
    )
    sync.add_argument(
        "--expected-bucket-owner",
        type=option(lambda t: t if re.fullmatch("[0-9]{12}", t, re.ASCII) else None, "must be 12 digits"),
        help="account ID the bucket must belong to",
    )
    sync.add_argument("--profile", help="AWS profile (default: the standard AWS settings)")
    sync.add_argument(
        "--region",
        type=option(region_code, "must be an AWS region code such as eu-west-1"),
        help="AWS region (default: the standard AWS settings)",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync.add_argument("--seed-only", action="store_true", help="act only when the prefix holds no DAGs yet")
    sync.add_argument("--allow-mass-delete", action="store_true", help="allow deleting over half the DAGs")
    sync.add_argument("--json", action="store_true", help="print a JSON summary on stdout (text goes to stderr)")
    sync.add_argument(
        "--concurrency",
        type=option(whole_number(1, MAX_CONCURRENCY), f"must be a whole number from 1 to {MAX_CONCURRENCY}"),
        default=16,
        help="parallel uploads (default: 16)",
    )
    sync.add_argument(
        "--commit",
        type=option(lambda t: t if re.fullmatch("[0-9a-f]{7,40}", t, re.ASCII) else None, "must be a git commit id"),
        help="the git commit the DAGs come from, recorded in the manifest (default: CodeBuild's, or git's HEAD)",
    )
    sync.add_argument(
        "--deployed-parameter",
        help="an SSM parameter the main pipeline writes once the environment is deployed; while it is "
        "missing the sync ends green with nothing to do (the main pipeline seeds dags/ when it deploys)",
    )
    sync.add_argument(
        "--skip-until-deployed",
        action="store_true",
        help="with --environment: end green with nothing synced until the main pipeline has recorded it as "
        "deployed (config's deployed parameter), as the DAG pipeline runs it",
    )
    sync.add_argument(
        "--wait-live",
        action="store_true",
        help="with --environment: wait until its Airflow serves the upload (as --live-environment NAME)",
    )
    sync.add_argument(
        "--live-environment",
        help="after the sync, wait until this MWAA environment serves the uploaded DAG files (needs --dag-index)",
    )
    sync.add_argument(
        "--dag-index",
        type=Path,
        help="the DAG check's index (`python -m dagtools check --index FILE`): which DAGs each file defines, "
        "so the wait knows what to wait for",
    )
    sync.add_argument(
        "--reader-function",
        help="ask through this Lambda function in the environment's VPC instead of calling InvokeRestApi "
        "directly (a private web server refuses calls from outside its VPC; default with --environment: "
        "the environment's DAG reader when its web server is PRIVATE_ONLY)",
    )
    sync.add_argument(
        "--live-timeout",
        type=option(whole_number(1, 3600), "must be a whole number of seconds from 1 to 3600"),
        help="seconds to wait for the environment (default: derived from its Airflow options and the upload)",
    )
    sync.add_argument(
        "--live-interval",
        type=option(positive_seconds, "must be a number of seconds above 0 and below 3600"),
        default=5.0,
        help="seconds between two rounds of questions to the environment (default: 5)",
    )
    sync.add_argument(
        "--live-calls-per-round",
        type=option(whole_number(3, 100), "must be a whole number from 3 to 100"),
        default=CALLS_PER_ROUND,
        help=f"the most questions one round asks, however many DAGs the environment has (default: {CALLS_PER_ROUND})",
    )
    sync.add_argument(
        "--copy-interval",
        type=option(positive_seconds, "must be a number of seconds above 0 and below 3600"),
        default=MWAA_COPY_INTERVAL,
        help=f"how often MWAA copies the bucket to its containers (default: {MWAA_COPY_INTERVAL:g} s, MWAA's; "
        "only an emulator differs)",
    )
    sync.set_defaults(handler=run_sync)


def default_commit() -> str | None:
    """CodeBuild's source commit, else the checkout's HEAD, else none."""
    if os.environ.get("CODEBUILD_RESOLVED_SOURCE_VERSION"):
        return os.environ["CODEBUILD_RESOLVED_SOURCE_VERSION"]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return head.stdout.strip() if head.returncode == 0 else None


def retry_settings() -> tuple[str, int]:
    """AWS_RETRY_MODE and AWS_MAX_ATTEMPTS, checked before any request is sent."""
    mode = os.environ.get("AWS_RETRY_MODE", "standard")
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", "8")
    if mode not in RETRY_MODES:
        raise SafetyError(f"AWS_RETRY_MODE = {mode!r} is not allowed; must be one of {', '.join(RETRY_MODES)}")
    if not (attempts.isdigit() and 1 <= int(attempts) <= 20):
        raise SafetyError(f"AWS_MAX_ATTEMPTS = {attempts!r} is not allowed; must be a whole number from 1 to 20")
    return mode, int(attempts)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM (what CodeBuild sends on a stop) raise KeyboardInterrupt once; the signals
    received are listed in what this yields. A second signal is ignored: the stop is under way."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _target_from_config(args: argparse.Namespace) -> None:
    """With --environment, what config says of it: the bucket, its owner and region, the Airflow options
    the live wait's timing follows and, for a private web server, the reader function to ask through."""
    args.airflow_options = {}
    if not args.environment:
        for flag in ("assume_sync_role", "skip_until_deployed", "wait_live"):
            if getattr(args, flag):
                raise SafetyError(f"--{flag.replace('_', '-')} needs --environment KEY (the environment it is about)")
        return
    from config import ConfigError, UnknownEnvironmentError, read_config

    try:
        project = read_config(os.environ.get("MWAA_CONFIG"))
        env = project.environment(args.environment)
    except (ConfigError, UnknownEnvironmentError) as error:
        raise SafetyError(str(error)) from None
    if args.skip_until_deployed:
        args.deployed_parameter = args.deployed_parameter or project.pipeline.deployed_parameter(env.stage)
    if args.wait_live:
        args.live_environment = args.live_environment or env.environment_name
    args.bucket = args.bucket or env.bucket_name
    args.expected_bucket_owner = args.expected_bucket_owner or env.account
    args.region = args.region or env.region
    if args.assume_sync_role:
        args.role_arn = args.role_arn or env.dag_sync_role_arn
    args.airflow_options = dict(env.airflow_configuration_options)
    if env.private_web_server and args.live_environment == env.environment_name:
        args.reader_function = args.reader_function or env.dag_reader_function_name


def aws_session(args: argparse.Namespace) -> Any:
    """The standard AWS settings (profile, region), through --role-arn when given."""
    from aws_clients import session_for

    return session_for(role_arn=args.role_arn, region=args.region, profile=args.profile, session_name="dagtools")


def s3_client(session: Any, concurrency: int) -> Any:
    """A client honouring the standard AWS settings (AWS_ENDPOINT_URL_S3, retry mode) with a pool per upload."""
    from botocore.config import Config

    mode, attempts = retry_settings()
    config = Config(retries={"mode": mode, "max_attempts": attempts}, max_pool_connections=concurrency + 4)
    return session.client("s3", config=config)


def is_deployed(args: argparse.Namespace) -> bool:
    """Whether the main pipeline has recorded the environment as deployed (its SSM parameter exists)."""
    from aws_clients import session_for

    ssm = session_for(role_arn=None, region=None, profile=args.profile, session_name="dagtools").client("ssm")
    try:
        ssm.get_parameter(Name=args.deployed_parameter)
    except ssm.exceptions.ParameterNotFound:
        return False
    return True


def _names(sign: str, names: list[str]) -> list[str]:
    lines = [f"  {sign} {name}" for name in names[:LISTED_NAMES]]
    if len(names) > LISTED_NAMES:
        lines.append(f"  {sign} ... and {len(names) - LISTED_NAMES} more")
    return lines


def describe(plan: Plan, target: str) -> str:
    lines = [
        f"Plan for {target}: {len(plan.added)} added, {len(plan.changed)} changed, "
        f"{len(plan.deleted)} deleted, {len(plan.unchanged)} unchanged"
    ]
    lines += _names("+", plan.added) + _names("~", plan.changed) + _names("-", plan.deleted)
    if plan.kept_ignored:
        lines.append(f"  ({len(plan.kept_ignored)} object(s) under the prefix match .syncignore and are left alone)")
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on a terminal; silent when output is a log file."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < PROGRESS_MIN_UPLOADS:
            return
        width = 30
        filled = width * done // total
        self.stream.write(f"\r  uploading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def run_sync(args: argparse.Namespace) -> int:
    with stop_on_signals() as received:
        return _sync(args, received)


def _sync(args: argparse.Namespace, signals: list[int]) -> int:
    out = sys.stderr if args.json else sys.stdout
    started = time.monotonic()
    summary: dict[str, Any] = {"dry_run": args.dry_run, "seed_only": args.seed_only}
    try:
        # Everything that can be checked locally is, before the first request.
        _target_from_config(args)
        if not args.bucket:
            raise SafetyError("no bucket: pass --bucket NAME or --environment KEY")
        retry_settings()
        files, rules = scan_source(args.source)
        check_key_lengths(files, args.prefix)
        index = _dag_index(args)
        if index:
            index.verify({path: file.sha256 for path, file in files.items()})
        if args.deployed_parameter and not is_deployed(args):
            print(
                f"s3://{args.bucket}: the environment is not deployed yet ({args.deployed_parameter} is not set), "
                "nothing to sync; the main pipeline seeds dags/ when it deploys it.",
                file=out,
            )
            summary.update(skipped=True, deployed=False)
            return _finish(args, summary, 0)
        session = aws_session(args)
        syncer = DagSync(
            s3_client(session, args.concurrency),
            bucket=args.bucket,
            prefix=args.prefix,
            expected_bucket_owner=args.expected_bucket_owner,
            concurrency=args.concurrency,
            commit=args.commit or default_commit(),
        )
        target = f"s3://{args.bucket}/{syncer.prefix}"
        summary.update(bucket=args.bucket, prefix=syncer.prefix)
        remote = syncer.read_remote(rules)
        if args.seed_only and remote.etags:
            print(f"{target} already holds {len(remote.etags)} DAG file(s); --seed-only leaves it alone.", file=out)
            summary.update(skipped=True, remote_files=len(remote.etags))
            return _finish(args, summary, 0)
        plan = syncer.plan(files, remote, allow_mass_delete=args.allow_mass_delete)
        print(describe(plan, target), file=out)
        summary.update(
            skipped=False,
            added=plan.added,
            changed=plan.changed,
            deleted=plan.deleted,
            unchanged=len(plan.unchanged),
            list_pages=remote.list_pages,
        )
        uploads = index.uploads({p: files[p].path.read_bytes() for p in plan.uploads}, set(plan.added)) if index else []
        if args.dry_run:
            print("Dry run: nothing changed.", file=out)
            return _finish(args, summary, 0)
        reader = airflow_reader(session, args.live_environment, args.reader_function) if index else None
        baseline = _errors_before(reader, uploads, out) if reader else None
        syncer.apply(plan, files, remote, progress=Progress(out))
        seconds = time.monotonic() - started
        summary["seconds"] = round(seconds, 3)
        print(
            f"Done in {seconds:.1f} s: uploaded {len(plan.uploads)}, deleted {len(plan.deleted)}.",
            file=out,
        )
        if reader:
            return _wait_until_live(args, reader, uploads, baseline, summary)
        return _finish(args, summary, 0)
    except (SourceError, SafetyError, DagIndexError) as error:
        return _fail(args, summary, f"error: {error}", 2)
    except SyncInterrupted as stopped:
        name = signal.Signals(signals[0]).name
        return _fail(
            args,
            summary,
            f"stopped by {name}: {stopped.uploaded} of {stopped.total} upload(s) done and recorded in the manifest, "
            "nothing deleted; the next run uploads the rest",
            128 + signals[0],
        )
    except KeyboardInterrupt:
        received = signals[0] if signals else signal.SIGINT
        name = signal.Signals(received).name
        return _fail(args, summary, f"stopped by {name} before anything in the bucket changed", 128 + received)
    except ConcurrentSyncError as error:
        return _fail(args, summary, f"error: {error}", 1)
    except SyncError as error:
        summary["permanent"] = error.permanent
        if error.permanent:
            return _fail(
                args, summary, f"error: sync failed; running it again will not help until this is fixed: {error}", 1
            )
        return _fail(args, summary, f"error: sync incomplete (a temporary failure), run it again to finish: {error}", 1)
    except Exception as error:  # botocore errors of every kind end here, with their message
        summary["permanent"] = is_permanent(error)
        advice = "fix this, then run it again" if summary["permanent"] else "a temporary failure: run it again"
        return _fail(args, summary, f"error: {describe_error(error)} ({advice})", 1)


def _dag_index(args: argparse.Namespace) -> DagIndex | None:
    """The DAG check's index, which the live wait needs to know what to wait for; None without a wait."""
    if not args.live_environment:
        return None
    if not args.dag_index:
        raise DagIndexError(
            "--live-environment needs the DAG check's index to know which files define which DAGs: "
            "run `python -m dagtools check --index FILE` first and pass --dag-index FILE"
        )
    return DagIndex.read(args.dag_index, args.environment)


def _errors_before(reader: AirflowReader, uploads: list[Upload], out: Any) -> dict[str, str] | None:
    """The import errors of the files about to change, before they do: after the sync, the same error
    may only be Airflow re-parsing the old copy until MWAA copies the new one."""
    from dagtools.live.wait import LiveError, import_errors_of

    changed = [u.path for u in uploads if not u.added]
    try:
        return import_errors_of(reader, changed) if changed else {}
    except LiveError as error:
        print(
            f"note: the import errors before the sync could not be read ({error}); an error counts only once "
            "it is newer than MWAA's copy",
            file=out,
        )
        return None


def _wait_until_live(
    args: argparse.Namespace,
    reader: AirflowReader,
    uploads: list[Upload],
    baseline: dict[str, str] | None,
    summary: dict[str, Any],
) -> int:
    """Wait until the environment serves the uploaded DAG files; fail on their import errors."""
    from dagtools.live.wait import Timings, wait_until_live

    out = sys.stderr if args.json else sys.stdout
    name = args.live_environment
    waited = [u for u in uploads if u.dag_ids or not u.imports]
    if not waited:
        print(f"{name}: no file that defines a DAG changed, nothing to wait for.", file=out)
        return _finish(args, summary, 0)
    timings = Timings.from_options(args.airflow_options, args.copy_interval)
    timeout = args.live_timeout or timings.timeout(
        waited, interval=args.live_interval, calls_per_round=args.live_calls_per_round
    )
    how = f" through {args.reader_function}" if args.reader_function else ""
    print(f"{name}: waiting (at most {timeout:.0f} s){how} until Airflow serves {len(waited)} file(s) ...", file=out)
    result = wait_until_live(
        reader,
        uploads,
        baseline=baseline,
        synced_at=time.time(),
        timeout=timeout,
        copy_lag=timings.copy_lag,
        interval=args.live_interval,
        calls_per_round=args.live_calls_per_round,
    )
    summary.update(
        live=result.live,
        import_errors=result.failed,
        not_parsed=result.pending,
        live_seconds=round(result.seconds),
        live_timeout=timeout,
        live_calls=result.calls,
        live_rounds=result.rounds,
        live_most_calls_in_a_round=result.most_calls_in_a_round,
        live_throttled_rounds=result.throttled_rounds,
    )
    for path, trace in result.failed.items():
        print(f"IMPORT ERROR {path} in {name}:\n{trace}", file=sys.stderr)
    if result.failed:
        return _fail(
            args, summary, f"error: {name} could not import {len(result.failed)} file(s): {', '.join(result.failed)}", 1
        )
    if result.pending:
        why = f"; the last answer was: {result.last_error}" if result.last_error else ""
        return _fail(
            args,
            summary,
            f"error: {name} did not serve {', '.join(result.pending)} within {timeout:.0f} s "
            f"(is the environment available? see `python -m dagtools status`){why}",
            1,
        )
    print(
        f"{name}: live in {result.seconds:.0f} s ({len(result.live)} file(s) served with their new content, "
        f"{result.calls} call(s) in {result.rounds} round(s)).",
        file=out,
    )
    return _finish(args, summary, 0)


def _fail(args: argparse.Namespace, summary: dict[str, Any], message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return _finish(args, {**summary, "error": message}, code)


def _finish(args: argparse.Namespace, summary: dict[str, Any], code: int) -> int:
    if args.json:
        print(json.dumps({**summary, "ok": code == 0}, indent=1))
    return code
