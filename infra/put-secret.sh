#!/bin/sh
# Write the runtime secret the functions load at cold start (QWEN_SECRETS_ID in template.yaml).
#
#   infra/put-secret.sh STACK_NAME ACCOUNTS_JSON_FILE [GATEWAY_API_KEYS]
#
# ACCOUNTS_JSON_FILE holds the QWEN_ACCOUNTS list (the same entries as qwen_accounts.json locally);
# GATEWAY_API_KEYS is the comma-separated list of keys clients must send. Values are never printed, and they
# travel to the AWS CLI through a temporary file readable only by you, not the command line.
set -eu
stack=${1:?usage: infra/put-secret.sh STACK_NAME ACCOUNTS_JSON_FILE [GATEWAY_API_KEYS]}
accounts=${2:?usage: infra/put-secret.sh STACK_NAME ACCOUNTS_JSON_FILE [GATEWAY_API_KEYS]}
keys=${3:-}

arn=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='RuntimeSecretArn'].OutputValue" --output text)
[ -n "$arn" ] && [ "$arn" != "None" ] || { echo "stack $stack has no RuntimeSecretArn output" >&2; exit 1; }

umask 077
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
GATEWAY_API_KEYS="$keys" python3 - "$accounts" >"$payload" <<'PY'
import json, os, sys
accounts = json.load(open(sys.argv[1], encoding="utf-8"))
if not isinstance(accounts, list):
    raise SystemExit("the accounts file must hold a JSON list of account entries")
secret = {"QWEN_ACCOUNTS": accounts}
if os.environ["GATEWAY_API_KEYS"]:
    secret["GATEWAY_API_KEYS"] = os.environ["GATEWAY_API_KEYS"]
json.dump(secret, sys.stdout)
PY
aws secretsmanager put-secret-value --secret-id "$arn" --secret-string "file://$payload" >/dev/null
echo "secret updated: $arn (new sandboxes pick it up; running ones keep the old value until recycled)"
