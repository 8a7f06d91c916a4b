#!/bin/sh
# Write the runtime secret the functions load at cold start (QWEN_SECRETS_ID in template.yaml).
#
#   infra/put-secret.sh STACK_NAME ACCOUNTS_JSON_FILE GATEWAY_API_KEYS [ADMIN_API_KEYS]
#
# ACCOUNTS_JSON_FILE holds the QWEN_ACCOUNTS list (the same entries as qwen_accounts.json locally);
# GATEWAY_API_KEYS is the comma-separated list of keys clients must send: required, because a deployed
# gateway without keys refuses every request (401). ADMIN_API_KEYS opens /admin/* and guards the metrics.
# Values are never printed, and they travel to the AWS CLI through a temporary file readable only by you,
# not the command line.
set -eu
usage="usage: infra/put-secret.sh STACK_NAME ACCOUNTS_JSON_FILE GATEWAY_API_KEYS [ADMIN_API_KEYS]"
stack=${1:?$usage}
accounts=${2:?$usage}
keys=${3:-}
admin=${4:-}
if [ -z "$(printf '%s' "$keys" | tr -d ' ,')" ]; then
    echo "GATEWAY_API_KEYS is required: a deployed gateway without keys answers 401 to every request" >&2
    echo "$usage" >&2
    exit 2
fi

arn=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='RuntimeSecretArn'].OutputValue" --output text)
[ -n "$arn" ] && [ "$arn" != "None" ] || { echo "stack $stack has no RuntimeSecretArn output" >&2; exit 1; }

umask 077
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
GATEWAY_API_KEYS="$keys" ADMIN_API_KEYS="$admin" python3 - "$accounts" >"$payload" <<'PY'
import json, os, sys
accounts = json.load(open(sys.argv[1], encoding="utf-8"))
if not isinstance(accounts, list):
    raise SystemExit("the accounts file must hold a JSON list of account entries")
secret = {"QWEN_ACCOUNTS": accounts, "GATEWAY_API_KEYS": os.environ["GATEWAY_API_KEYS"]}
if os.environ["ADMIN_API_KEYS"]:
    secret["ADMIN_API_KEYS"] = os.environ["ADMIN_API_KEYS"]
json.dump(secret, sys.stdout)
PY
aws secretsmanager put-secret-value --secret-id "$arn" --secret-string "file://$payload" >/dev/null
echo "secret updated: $arn (new sandboxes pick it up; running ones keep the old value until recycled)"
