"""The state table's schema, defined once for the stack and for `remediator state create-table`.

One DynamoDB table holds idempotency records (powertools), per-key locks, and the audit trail
of every change. Items expire through the TTL attribute, except audit records, which have none.
"""

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiration"

ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]
KEY_SCHEMA = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
