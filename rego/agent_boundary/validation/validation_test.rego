package agent_boundary.validation_test

import data.agent_boundary.validation

_field(name, type, extra) := object.union(base, extra) if {
	base := {
		"rule": sprintf("input_validation[0].rules[%s]", [name]),
		"source": "examples/support_agent.yaml:16",
		"field": name,
		"path": split(name, "."),
		"type": type,
		"required": true,
	}
}

# The one message the field rule produces for `doc`, or "ok" when the document passes.
_message(field, doc) := finding.message if {
	findings := validation.violations([field], doc)
	count(findings) == 1
	some finding in findings
} else := "ok" if {
	count(validation.violations([field], doc)) == 0
}

_priority := _field("priority", "enum", {"values": ["low", "medium", "high"]})

_customer := _field("customer_id", "uuid", {})

_title := _field("ticket.title", "string", {"min_length": 3, "max_length": 5, "pattern": `^[a-zé]+$`})

_count := _field("count", "integer", {"minimum": 1, "maximum": 10})

_ratio := _field("ratio", "number", {"minimum": 0, "maximum": 1.5})

_flag := _field("flag", "boolean", {"required": false})

_email := _field("email", "email", {})

_plain := _field("note", "string", {"required": false})

# Lengths in code points on both engines: an emoji (outside the BMP) is one, a combining accent one more.
_short := _field("tag", "string", {"min_length": 2, "max_length": 3})

_big := _field("n", "integer", {})

# Numbers in messages read the same on both engines (Go writes 1e-07 and 1e+300, Rust every digit).
_number_text_cases := {
	"integer": {"n": 42, "text": "42"},
	"integral float": {"n": 3.0, "text": "3"},
	"1e15 as digits": {"n": 1e15, "text": "1000000000000000"},
	"largest exact integer": {"n": 9007199254740991, "text": "9007199254740991"},
	"negative zero": {"n": -0, "text": "0"},
	"ordinary fraction": {"n": 2.5, "text": "2.5"},
	"small fraction": {"n": 0.0001, "text": "0.0001"},
	"tiny fraction": {"n": 0.00001, "text": "a number too large or too small to show"},
	"large fraction": {"n": 123456789.5, "text": "a number too large or too small to show"},
	"huge": {"n": 1e300, "text": "a number too large or too small to show"},
}

test_number_text[note] if {
	some note, case in _number_text_cases
	validation.number_text(case.n) == case.text
}

test_number_text_every_case if count(test_number_text) == count(_number_text_cases)

_uuid := "123e4567-e89b-12d3-a456-426614174000"

_cases := {
	"uuid ok": {"field": _customer, "doc": {"customer_id": _uuid}, "want": "ok"},
	"uuid upper case ok": {"field": _customer, "doc": {"customer_id": upper(_uuid)}, "want": "ok"},
	"uuid malformed": {
		"field": _customer,
		"doc": {"customer_id": "123e4567"},
		"want": "field `customer_id` must be a UUID, got \"123e4567\"",
	},
	"uuid not a string": {
		"field": _customer,
		"doc": {"customer_id": 7},
		"want": "field `customer_id` must be a UUID, got 7",
	},
	"uuid missing": {"field": _customer, "doc": {}, "want": "missing required field `customer_id`"},
	"uuid null is not missing": {
		"field": _customer,
		"doc": {"customer_id": null},
		"want": "field `customer_id` must be a UUID, got null",
	},
	"enum ok": {"field": _priority, "doc": {"priority": "high"}, "want": "ok"},
	"enum outside": {
		"field": _priority,
		"doc": {"priority": "urgent"},
		"want": "field `priority` must be one of [\"low\", \"medium\", \"high\"], got \"urgent\"",
	},
	"enum wrong case": {
		"field": _priority,
		"doc": {"priority": "HIGH"},
		"want": "field `priority` must be one of [\"low\", \"medium\", \"high\"], got \"HIGH\"",
	},
	"enum object value": {
		"field": _priority,
		"doc": {"priority": {"a": 1}},
		"want": "field `priority` must be one of [\"low\", \"medium\", \"high\"], got an object",
	},
	"string ok, nested": {"field": _title, "doc": {"ticket": {"title": "café"}}, "want": "ok"},
	"three emoji are three characters": {"field": _short, "doc": {"tag": "😀😀😀"}, "want": "ok"},
	"largest exact integer": {"field": _big, "doc": {"n": 9007199254740991}, "want": "ok"},
	"1e300 is no integer": {
		"field": _big,
		"doc": {"n": 1e300},
		"want": "field `n` must be an integer, got a number too large or too small to show",
	},
	"four emoji are four characters": {
		"field": _short,
		"doc": {"tag": "😀😀😀😀"},
		"want": "field `tag` must be at most 3 characters long, got 4",
	},
	"one emoji is one character": {
		"field": _short,
		"doc": {"tag": "😀"},
		"want": "field `tag` must be at least 2 characters long, got 1",
	},
	"a newline is a character": {"field": _short, "doc": {"tag": "a\n"}, "want": "ok"},
	"a combining accent is a character": {
		"field": _short,
		"doc": {"tag": "e\u0301e\u0301"},
		"want": "field `tag` must be at most 3 characters long, got 4",
	},
	"string counts characters, not bytes": {"field": _title, "doc": {"ticket": {"title": "éééé"}}, "want": "ok"},
	"string too short": {
		"field": _title,
		"doc": {"ticket": {"title": "ab"}},
		"want": "field `ticket.title` must be at least 3 characters long, got 2",
	},
	"string too long": {
		"field": _title,
		"doc": {"ticket": {"title": "abcdef"}},
		"want": "field `ticket.title` must be at most 5 characters long, got 6",
	},
	"string pattern": {
		"field": _title,
		"doc": {"ticket": {"title": "ABC"}},
		"want": "field `ticket.title` must match the pattern `^[a-zé]+$`",
	},
	"string wrong type": {
		"field": _title,
		"doc": {"ticket": {"title": ["abc"]}},
		"want": "field `ticket.title` must be a string, got an array",
	},
	"string parent not an object": {
		"field": _title,
		"doc": {"ticket": "abc"},
		"want": "missing required field `ticket.title`",
	},
	"string without constraints": {"field": _plain, "doc": {"note": ""}, "want": "ok"},
	"optional string absent": {"field": _plain, "doc": {}, "want": "ok"},
	"string control characters stay on one line": {
		"field": _title,
		"doc": {"ticket": {"title": "a\nb"}},
		"want": "field `ticket.title` must match the pattern `^[a-zé]+$`",
	},
	"integer ok": {"field": _count, "doc": {"count": 10}, "want": "ok"},
	"integer written as float ok": {"field": _count, "doc": {"count": 2.0}, "want": "ok"},
	"integer fraction": {"field": _count, "doc": {"count": 1.5}, "want": "field `count` must be an integer, got 1.5"},
	"integer string": {"field": _count, "doc": {"count": "3"}, "want": "field `count` must be an integer, got \"3\""},
	"integer below": {"field": _count, "doc": {"count": 0}, "want": "field `count` must be at least 1, got 0"},
	"integer above": {"field": _count, "doc": {"count": 11}, "want": "field `count` must be at most 10, got 11"},
	"number ok": {"field": _ratio, "doc": {"ratio": 1.25}, "want": "ok"},
	"number below": {"field": _ratio, "doc": {"ratio": -1}, "want": "field `ratio` must be at least 0, got -1"},
	"number above": {"field": _ratio, "doc": {"ratio": 2}, "want": "field `ratio` must be at most 1.5, got 2"},
	"number boolean": {"field": _ratio, "doc": {"ratio": true}, "want": "field `ratio` must be a number, got true"},
	"boolean ok": {"field": _flag, "doc": {"flag": false}, "want": "ok"},
	"boolean optional absent": {"field": _flag, "doc": {}, "want": "ok"},
	"boolean string": {"field": _flag, "doc": {"flag": "true"}, "want": "field `flag` must be a boolean, got \"true\""},
	"email ok": {"field": _email, "doc": {"email": "ada@example.com"}, "want": "ok"},
	"email no domain dot": {
		"field": _email,
		"doc": {"email": "ada@example"},
		"want": "field `email` must be an email address, got \"ada@example\"",
	},
	"email two ats": {
		"field": _email,
		"doc": {"email": "a@b@example.com"},
		"want": "field `email` must be an email address, got \"a@b@example.com\"",
	},
	"email not a string": {
		"field": _email,
		"doc": {"email": null},
		"want": "field `email` must be an email address, got null",
	},
}

test_field_rules[note] if {
	some note, case in _cases
	_message(case.field, case.doc) == case.want
}

test_field_rules_every_case if count(test_field_rules) == count(_cases)

test_violation_names_rule_and_source if {
	expected := {
		"code": "invalid_input",
		"message": "missing required field `priority`",
		"rule": "input_validation[0].rules[priority]",
		"source": "examples/support_agent.yaml:16",
	}
	validation.violations([_priority], {}) == {expected}
}

test_one_reason_per_failing_field if {
	findings := validation.violations([_priority, _customer, _count], {"priority": "urgent", "count": 5})
	{finding.message | some finding in findings} == {
		"field `priority` must be one of [\"low\", \"medium\", \"high\"], got \"urgent\"",
		"missing required field `customer_id`",
	}
}

test_no_rules_no_violations if count(validation.violations([], {"a": 1})) == 0

_document_cases := {
	"object": {"body": {"a": 1}, "want": {"a": 1}},
	"json object text": {"body": `{"a": {"b": 2}}`, "want": {"a": {"b": 2}}},
	"json array text": {"body": "[1, 2]", "want": {}},
	"json string text": {"body": `"x"`, "want": {}},
	"not json": {"body": "{a: 1", "want": {}},
	"number": {"body": 5, "want": {}},
	"array": {"body": [{"a": 1}], "want": {}},
	"null": {"body": null, "want": {}},
}

test_document[note] if {
	some note, case in _document_cases
	validation.document(case.body) == case.want
}

test_document_every_case if count(test_document) == count(_document_cases)
