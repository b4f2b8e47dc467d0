# The prelude of every module `sovra export --to rego` writes: how rule
# results combine (deny overrides allow; no permit means deny) and the
# engine's primitives (missing values, comparisons across types, residency
# modes, grant validity), as Rego v1. The exported rules follow it.

decision := {"decision": "deny", "rules": sort([r | some r in forbids])} if count(forbids) > 0

decision := {"decision": "allow", "rules": sort([r | some r in permits])} if {
	count(forbids) == 0
	count(permits) > 0
}

decision := {"decision": "deny", "rules": ["default_deny"]} if {
	count(forbids) == 0
	count(permits) == 0
}

# ---- the engine's primitives ----

# A value that is there: absent and null are both missing.
sv_val(x) := x if x != null

# True for any value that is defined (a call with an undefined value is undefined).
sv_defined(x) if {
	x == x
}

# A list that is absent or null is empty.
sv_lst(x) := x if is_array(x)

sv_lst(x) := [] if not is_array(x)

# Comparisons are false across types and with missing values.
sv_ne(a, b) if {
	type_name(a) == type_name(b)
	a != b
}

sv_lt(a, b) if {
	is_number(a)
	is_number(b)
	a < b
}

sv_le(a, b) if {
	is_number(a)
	is_number(b)
	a <= b
}

sv_member(x, s) if x in s

sv_nonmember(x, s) if {
	is_string(x)
	is_set(s)
	not x in s
}

sv_nonmember(x, s) if {
	is_string(x)
	is_array(s)
	not x in s
}

sv_ts(x) := time.parse_rfc3339_ns(x) if is_string(x)

# The length of a list; missing for anything else.
sv_count(x) := count(x) if is_array(x)

# `any in`, `all in`, `none in`: a list's members tested with `in`.
sv_any_in(l, s) if {
	is_array(l)
	some x in l
	sv_member(x, s)
}

sv_all_in(l, s) if {
	is_array(l)
	every x in l {
		sv_member(x, s)
	}
}

sv_none_in(l, s) if {
	is_array(l)
	every x in l {
		sv_nonmember(x, s)
	}
}

sv_starts_with(a, b) if {
	is_string(a)
	is_string(b)
	startswith(a, b)
}

sv_ends_with(a, b) if {
	is_string(a)
	is_string(b)
	endswith(a, b)
}

# A glob, exported as the anchored regular expression that matches the same strings.
sv_matches(a, re) if {
	is_string(a)
	regex.match(re, a)
}

# `satisfies single_country(c)` / `sovereign(c)` with a country from the request.
sv_in_country(r, c, false) if r.country == c

sv_in_country(r, c, true) if {
	r.country == c
	sv_region_sovereign(r) == true
}

# The time between two instants (ns), in whole seconds rounded toward zero,
# as the engine's durations are.
sv_span(a, b) := d - (d % 1000000000) if d := a - b

sv_now := time.parse_rfc3339_ns(input.time) if is_string(input.time)

sv_now := time.now_ns() if not is_string(input.time)

sv_target := data.regions[input.target_region]

sv_source := data.regions[input.source_region]

sv_region_status(r) := r.status if is_string(r.status)

sv_region_status(r) := "active" if not is_string(r.status)

sv_region_sovereign(r) := true if r.sovereign == true

sv_region_sovereign(r) := false if not r.sovereign == true

sv_sovereign_ok(r, p) if p.sovereign == false

sv_sovereign_ok(r, p) if {
	p.sovereign == true
	sv_region_sovereign(r) == true
}

sv_satisfies_any(r, name) if sv_sat_any(r, sv_profiles[name])

# A region that may hold any copy under profile object `p`.
sv_sat_any(r, p) if p.mode == "unrestricted"

sv_sat_any(r, p) if {
	p.mode == "client_owned"
	r.id in sv_lst(object.get(input, ["resource", "client_regions"], null))
}

sv_sat_any(r, p) if {
	not p.mode in {"unrestricted", "client_owned"}
	r.country in p.any
	sv_sovereign_ok(r, p)
}

sv_satisfies_primary(r, name) if sv_profiles[name].mode == "unrestricted"

sv_satisfies_primary(r, name) if {
	sv_profiles[name].mode == "client_owned"
	sv_satisfies_any(r, name)
}

sv_satisfies_primary(r, name) if {
	p := sv_profiles[name]
	not p.mode in {"unrestricted", "client_owned"}
	r.country in p.primary
	sv_sovereign_ok(r, p)
}

# The grant validity rules of reference-pack.md.

sv_covers(g) if {
	is_string(g.resource)
	g.resource == input.resource.id
}

sv_covers(g) if input.resource.classification in sv_lst(object.get(g, "classifications", null))

sv_grant_valid(g) if {
	is_string(g.approved_by)
	trim_space(g.approved_by) != ""
	lower(trim_space(g.approved_by)) != lower(trim_space(g.requested_by))
	sv_from_ok(g)
	sv_now < time.parse_rfc3339_ns(g.expires_at)
	sv_not_revoked(g)
	sv_purpose_ok(g)
}

sv_from_ok(g) if not is_string(g.valid_from)

sv_from_ok(g) if {
	is_string(g.valid_from)
	time.parse_rfc3339_ns(g.valid_from) <= sv_now
}

sv_not_revoked(g) if not is_string(g.revoked_at)

sv_not_revoked(g) if {
	is_string(g.revoked_at)
	sv_now < time.parse_rfc3339_ns(g.revoked_at)
}

sv_purpose_ok(g) if not is_string(g.purpose)

sv_purpose_ok(g) if g.purpose == input.purpose
