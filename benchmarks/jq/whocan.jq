# whocan.jq -- the jq peer of `tms-audit who-can --data DIR --tenant T
# --permission P` (permissions only, not features; the latest state): the
# tenant's PBX Admin, then the accounts holding $perm sorted by kind and id.
# usage: jq -c -n -L benchmarks/jq --arg tenant T --arg perm P -f benchmarks/jq/whocan.jq EXPORT.jsonl
include "tms";

reduce records($tenant) as $r (empty_state; step($r))
| [{kind: "admin", id: .admin}]
  + [keys[] as $k | select($k[0:2] == "A:" and (.[$k].p | index([$perm])))
     | {kind: (if $k[2:3] == "e" then "extension" else "manager" end), id: $k[3:]}]
