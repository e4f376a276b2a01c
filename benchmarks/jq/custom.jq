# custom.jq -- the jq peer of `tms-history custom --data DIR --tenant T
# --format json`: every "role became Custom" event (R15 set_permissions, R17
# role_deleted) of tenant $tenant, as JSON Lines, from `tms-audit export`.
# usage: jq -c -n -L benchmarks/jq --arg tenant T -f benchmarks/jq/custom.jq EXPORT.jsonl
include "tms";

foreach records($tenant) as $r (empty_state; step($r); .ev[])
