#!/usr/bin/env bash
# One-time set-up (and teardown) of the accounts; run by an administrator, once per account, with
# that account's credentials (AWS_PROFILE=...). Every value comes from config/environments.toml.
#
#   scripts/bootstrap.sh tools              cdk bootstrap of the tools account, in every region used
#   scripts/bootstrap.sh environment KEY    boundary + execution policy (created or updated), then
#                                           cdk bootstrap --trust <tools>; rerun after bootstrap/ changes,
#                                           and after an environment joins the account or renames its bucket
#   scripts/bootstrap.sh pipeline           the first (and only manual) cdk deploy of the pipeline stack
#   scripts/bootstrap.sh teardown-pipeline  delete the pipeline stack (environments stay)
#
# See docs/operators.md, "One-time set-up of the accounts", for what each step allows and why.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.venv/bin:$PATH"
scripts/install.sh

value() { python -c "from config import load_config; p = load_config(); print($1)"; }

tools_account=$(value "p.pipeline.account")
tools_region=$(value "p.pipeline.region")

case "${1:-}" in
  tools)
    # Every region an environment is in, too: CDK Pipelines keeps a copy of the artifacts there
    # (a support stack in the tools account).
    regions=$(value "' '.join(sorted({p.pipeline.region} | {e.region for e in p.environments}))")
    for region in $regions; do
      cdk bootstrap "aws://$tools_account/$region" \
        --cloudformation-execution-policies "arn:aws:iam::aws:policy/AdministratorAccess"
    done
    ;;
  environment)
    key=${2:?usage: scripts/bootstrap.sh environment KEY}
    account=$(value "p.environment('$key').account")
    region=$(value "p.environment('$key').region")
    boundary=$(value "p.pipeline.permissions_boundary_name")
    execution=$(value "p.pipeline.cfn_execution_policy_name")
    # Creates both policies, or makes the documents in bootstrap/ their default versions: rerun this
    # after any change to bootstrap/ so the account gets it.
    python -m deploytools.bootstrap_policies --account "$account" --boundary-name "$boundary" \
      --execution-name "$execution"
    cdk bootstrap "aws://$account/$region" \
      --trust "$tools_account" --trust-for-lookup "$tools_account" \
      --cloudformation-execution-policies "arn:aws:iam::$account:policy/$execution"
    ;;
  pipeline)
    cdk deploy "$(value "p.pipeline.stack_name")" --require-approval broadening
    ;;
  teardown-pipeline)
    stack=$(value "p.pipeline.stack_name")
    aws cloudformation update-termination-protection --stack-name "$stack" --no-enable-termination-protection \
      --region "$tools_region"
    cdk destroy "$stack"
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
