"""The state table's schema, defined once for the stack and for `remediator state create-table`.

One DynamoDB table holds, by partition-key prefix:

- ``idempotency``: powertools idempotency records (expire through the TTL attribute);
- ``lock#<key ARN>``: the per-key lock, with its owner, fencing token and lease expiry;
- ``intent#<key ARN>``: write-ahead intents, recorded before a KMS write and completed after;
- ``audit#<key ARN>``: the audit trail, one item per change, written once and never updated
  or deleted (the stack denies UpdateItem and DeleteItem on these keys);
- ``count#<key ARN>``: the per-key, per-hour change counter of the anti-loop cap;
- ``incident#<key ARN>``: one item per (key, principal) incident window.

Items expire through the TTL attribute, except audit records, which have none.
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiration"

IDEMPOTENCY_PARTITION = "idempotency"
LOCK_PREFIX = "lock#"
INTENT_PREFIX = "intent#"
AUDIT_PREFIX = "audit#"
COUNT_PREFIX = "count#"
INCIDENT_PREFIX = "incident#"

# The Lambda's timeout and the lock's lease come from one setting: a lease always outlives the
# invocation that holds it (plus a margin for the release call), so a lock can never expire
# under a live holder. Every KMS write is also fenced by a conditional check of the lock.
FUNCTION_TIMEOUT_SECONDS = 120
LOCK_MARGIN_SECONDS = 30
LOCK_LEASE_SECONDS = FUNCTION_TIMEOUT_SECONDS + LOCK_MARGIN_SECONDS

ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]
KEY_SCHEMA = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
