# The prelude of every module `sovra export --to rego` writes: how rule
# results combine (deny overrides allow; no permit means deny) and the
# engine's primitives (missing values, comparisons across types, residency
# modes, grant validity), as Rego v1. The exported rules follow it.

decision := {"decision": "deny", "rules": sort([r | some r in forbids])} if {
	not sv_unfit
	count(forbids) > 0
}

decision := {"decision": "allow", "rules": sort([r | some r in permits])} if {
	not sv_unfit
	count(forbids) == 0
	count(permits) > 0
}

decision := {"decision": "deny", "rules": ["default_deny"]} if {
	not sv_unfit
	count(forbids) == 0
	count(permits) == 0
}

# A request or document whose declared field has another type is denied.
decision := {"decision": "deny", "rules": ["default_deny"]} if sv_unfit

default sv_unfit := false

sv_fits_string(x) if is_string(x)

sv_fits_number(x) if is_number(x)

sv_fits_boolean(x) if is_boolean(x)

sv_fits_country(x) if {
	is_string(x)
	x in sv_assigned
}

sv_fits_subdivision(x) if {
	is_string(x)
	regex.match(`^[A-Z]{2}-[A-Z0-9]{1,3}$`, x)
	substring(x, 0, 2) in sv_assigned
}

sv_fits_time(x) if sv_time_ok(x)

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

sv_ts(x) := time.parse_rfc3339_ns(x) if sv_time_ok(x)

# A string that is an RFC 3339 time (regorus's parser raises an error on a
# date that does not exist, where the engine reads the value as missing; so
# the date is checked first). Times that do not fit in nanoseconds since
# 1970 (before 1678, after 2261) are not ones Rego can hold.
sv_time_ok(x) if {
	is_string(x)
	regex.match(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`, x)
	# Two- and four-digit strings compare as their numbers do.
	y := substring(x, 0, 4)
	y > "1677"
	y < "2262"
	sv_day_ok(y, substring(x, 5, 2), substring(x, 8, 2))
}

sv_day_ok(_, m, _) if m in {"01", "03", "05", "07", "08", "10", "12"}

sv_day_ok(_, m, d) if {
	m in {"04", "06", "09", "11"}
	d <= "30"
}

sv_day_ok(_, "02", d) if d <= "28"

sv_day_ok(y, "02", "29") if sv_leap(to_number(y))

sv_leap(y) if {
	y % 4 == 0
	y % 100 != 0
}

sv_leap(y) if y % 400 == 0

# The country of a subdivision code (`US-CA`); missing for anything else.
sv_country_of(x) := substring(x, 0, 2) if {
	is_string(x)
	regex.match(`^[A-Z]{2}-[A-Z0-9]{1,3}$`, x)
}

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
	not sv_too_long(g)
}

# A bound of the policy's (`grants last at most 365d`) that the grant exceeds,
# or one that applies to a grant without valid_from to count from.
sv_too_long(g) if {
	some b in sv_bounds
	sv_bound_applies(b, g)
	not sv_within(b, g)
}

sv_bound_applies(b, _) if b.classification == null

sv_bound_applies(b, g) if b.classification in sv_lst(object.get(g, "classifications", null))

sv_within(b, g) if {
	is_string(g.valid_from)
	sv_span(time.parse_rfc3339_ns(g.expires_at), time.parse_rfc3339_ns(g.valid_from)) <= b.seconds * 1000000000
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
