# tms.jq -- the part of tmsperm's rules that the jq peers of tms-history
# custom and tms-audit who-can need, over `tms-audit export` lines of ONE
# tenant's accepted records: role sets (CreateRole, UpdateRole with R16
# propagation, DeleteRole with R17), role holders (AssignRole, the default
# role of CreateExtension, R18), permission sets of accounts (SetPermissions,
# R15). The state is ONE flat object: "A:<kind letter><id>" -> {p, r} per
# account (p the sorted permission names, r the role held, null for none or
# Custom), "R:<role>" -> {p, k} per role, "admin", "def" (the default role),
# "ev" (the Custom events of the last record). jq 1.6 updates a value in
# place only while nothing else refers to it; a nested state, `//`, `+=`,
# `|=` or `reduce ... (.; ...)` around an update leave a second reference,
# and the update copies the whole state (~3.5 ms at 50k accounts instead of
# ~5 us): hence the flat state, the recursions and orempty below.

def akey($kind; $id): "A:" + ($kind[0:1]) + $id;

def event($r; $k; $role; $cause; $en; $dis):
  {seq: $r.seq, time: $r.time, tenant: $r.cmd.tenant,
   kind: (if $k[2:3] == "e" then "extension" else "manager" end), id: $k[3:],
   role: $role, actor: $r.cmd.actor, cause: $cause, enabled: $en, disabled: $dis};

# `. // []` without its fork point (see above)
def orempty: if . then . else [] end;

# the holders of role $role, sorted as the engine's holders set (kind, id)
def holders($role): [keys[] as $k | select($k[0:2] == "A:" and .[$k].r == $role) | $k];

def set_permissions($r):
  akey($r.cmd.kind; $r.cmd.id) as $k | .[$k] as $a
  | ((($a.p + ($r.cmd.enable | orempty)) | unique) - ($r.cmd.disable | orempty)) as $next
  | if $next == $a.p then .
    elif $a.r and .["R:" + $a.r].p != $next then
      .["R:" + $a.r].p as $rp
      | .ev = [event($r; $k; $a.r; "set_permissions"; $next - $rp; $rp - $next)]
      | .[$k] = {p: $next, r: null}
    else .[$k] = {p: $next, r: $a.r} end;

# ids $ids[$i:] get role $role (set $ro)
def assign_ids($ids; $i; $role; $ro):
  if $i < ($ids | length) then .[akey($ro.k; $ids[$i])] = {p: $ro.p, r: $role} | assign_ids($ids; $i + 1; $role; $ro)
  else . end;

# field $f of accounts $ks[$i:] becomes $v
def set_all($ks; $i; $f; $v):
  if $i < ($ks | length) then .[$ks[$i]][$f] = $v | set_all($ks; $i + 1; $f; $v) else . end;

def assign_role($r):
  $r.cmd.role as $role | .["R:" + $role] as $ro | assign_ids($r.cmd.ids; 0; $role; $ro);

def update_role($r):
  $r.cmd.role as $role | ($r.cmd.permissions | unique) as $p
  | if .["R:" + $role].p == $p then .
    else .["R:" + $role].p = $p | set_all(holders($role); 0; "p"; $p) end;

def delete_role($r):
  $r.cmd.role as $role | holders($role) as $hs
  | .ev = [$hs[] as $k | event($r; $k; $role; "role_deleted"; []; [])]
  | set_all($hs; 0; "r"; null)
  | del(.["R:" + $role])
  | if .def == $role then .def = null else . end;

def create_extension($r):
  if .def then .[akey("e"; $r.cmd.id)] = {p: .["R:" + .def].p, r: .def}
  else .[akey("e"; $r.cmd.id)] = {p: [], r: null} end;

# one accepted record of the tenant
def step($r):
  .ev = []
  | $r.cmd.cmd as $c
  | if   $c == "SetPermissions"  then set_permissions($r)
    elif $c == "AssignRole"      then assign_role($r)
    elif $c == "CreateExtension" then create_extension($r)
    elif $c == "AddManager"      then .[akey("m"; $r.cmd.id)] = {p: [], r: null}
    elif $c == "DeleteExtension" then del(.[akey("e"; $r.cmd.id)])
    elif $c == "RemoveManager"   then del(.[akey("m"; $r.cmd.id)])
    elif $c == "CreateRole"      then .["R:" + $r.cmd.role] = {p: ($r.cmd.permissions | unique), k: $r.cmd.account_type}
    elif $c == "UpdateRole"      then update_role($r)
    elif $c == "DeleteRole"      then delete_role($r)
    elif $c == "SetDefaultRole"  then .def = $r.cmd.role
    elif $c == "CreateTenant"    then .admin = $r.cmd.admin
    else . end;

# the accepted records of tenant $t among the inputs
def records($t): inputs | select(.verdict == "accepted" and .cmd.tenant == $t);

def empty_state: {admin: null, def: null, ev: []};
