package agent_boundary.dlp_test

import data.agent_boundary.dlp

_email_rule := {
	"rule": "sanitize[0]",
	"source": "examples/clinical_agent.yaml:30",
	"detector": "email",
	"flag_regex": `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
	"fields": [["body"]],
	"apply_to": ["request"],
}

test_flags_name_the_field_and_never_the_value if {
	call := {"body": {"note": "write to bob@example.com", "n": 3, "list": ["x", "ann@example.org"]}}
	dlp.flags(_email_rule, call) == {
		{
			"field": "body.note",
			"path": ["body", "note"],
			"detector": "email",
			"rule": "sanitize[0]",
			"source": "examples/clinical_agent.yaml:30",
		},
		{
			"field": "body.list.1",
			"path": ["body", "list", 1],
			"detector": "email",
			"rule": "sanitize[0]",
			"source": "examples/clinical_agent.yaml:30",
		},
	}
}

test_a_string_field_is_flagged_itself if {
	rule := object.union(_email_rule, {"fields": [["context", "reply_to"]]})
	[flag] := [f | some f in dlp.flags(rule, {"context": {"reply_to": "x@example.com"}})]
	flag.field == "context.reply_to"
}

test_nothing_is_flagged_without_a_match_or_field if {
	count(dlp.flags(_email_rule, {"body": {"note": "no address here"}})) == 0
	count(dlp.flags(_email_rule, {})) == 0
}

test_result_only_rules_flag_no_request_fields if {
	rule := object.union(_email_rule, {"apply_to": ["result"]})
	count(dlp.flags(rule, {"body": {"note": "bob@example.com"}})) == 0
	dlp.result_redaction(rule) == {"detector": "email", "rule": "sanitize[0]", "source": "examples/clinical_agent.yaml:30"}
}

test_regex_rules_carry_their_pattern if {
	custom := {"detector": "regex", "flag_regex": `MRN-[0-9]{6}`, "apply_to": ["request", "result"]}
	rule := object.union(_email_rule, custom)
	[flag] := [f | some f in dlp.flags(rule, {"body": {"id": "MRN-123456"}})]
	flag.regex == `MRN-[0-9]{6}`
	dlp.result_redaction(rule).regex == `MRN-[0-9]{6}`
}

test_request_only_rules_have_no_result_redaction if {
	not dlp.result_redaction(_email_rule)
}

# A PII value used as an object key is flagged too: one flag for the field, which never names the key.
test_object_keys_are_scanned if {
	call := {"body": {"contacts": {"ann@example.com": "friend", "plain": "bob@example.org"}}}
	dlp.flags(_email_rule, call) == {
		{
			"field": "body (keys)",
			"path": ["body"],
			"keys": true,
			"detector": "email",
			"rule": "sanitize[0]",
			"source": "examples/clinical_agent.yaml:30",
		},
		{
			"field": "body.contacts.plain",
			"path": ["body", "contacts", "plain"],
			"detector": "email",
			"rule": "sanitize[0]",
			"source": "examples/clinical_agent.yaml:30",
		},
	}
}

test_strings_below_a_matching_key_get_no_flag_of_their_own if {
	flags := dlp.flags(_email_rule, {"body": {"ann@example.com": {"note": "bob@example.org"}}})
	[flag.field | some flag in flags] == ["body (keys)"]
}
