# METADATA
# title: Field validation
# description: |
#   Reusable checks of a JSON document against a list of field rules (as written by the compiler under
#   data.boundaries.agents[_].input_validation[_].fields). Request bodies use them today; tool-call arguments can reuse
#   them unchanged. Each finding is `{code, message, rule, source}`; the caller adds the SOC 2 control, so the
#   code-to-control map stays in one place (agent_boundary.reason_controls).
package agent_boundary.validation

_uuid := `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

# Deliberately simple: one `@`, no whitespace, a dot in the domain. Mailbox validation belongs to the application.
_email := `^[^@\s]+@[^@\s]+\.[^@\s]+$`

# What a message never shows as itself, so it stays on one line: C0 and C1 controls, DEL, U+2028 and U+2029.
_control_character := `[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]`

# METADATA
# title: Printable text
# description: |
#   `text` as a message may show it: every C0 or C1 control, DEL and Unicode line or paragraph separator replaced by
#   U+FFFD, so a message stays on one line whatever a call or a YAML string holds. Every message of the library that
#   echoes a value goes through here.
printable(text) := regex.replace(text, _control_character, "�")

# METADATA
# title: Document of a body
# description: |
#   The fields a request body offers: the body itself when it is an object, the parsed object when it is a string
#   holding a JSON object, and otherwise no fields at all.
document(body) := body if {
	is_object(body)
} else := parsed if {
	is_string(body)
	json.is_valid(body)
	parsed := json.unmarshal(body)
	is_object(parsed)
} else := {}

# METADATA
# title: Field violations
# description: |
#   One finding per field rule that `doc` breaks: a missing required field, a value of the wrong JSON type, or a value
#   outside the rule's constraints. An empty set when every rule holds.
# custom:
#   control: CC6.1
violations(fields, doc) := {finding |
	some field in fields
	message := _field_problem(field, doc)
	finding := {"code": "invalid_input", "message": message, "rule": field.rule, "source": field.source}
}

# A value is present when looking it up with two different defaults gives the same answer, which needs no sentinel
# that a caller could forge.
_present(doc, path) if object.get(doc, path, false) == object.get(doc, path, true)

_required(field) if object.get(field, "required", true) == true

_field_problem(field, doc) := sprintf("missing required field `%s`", [field.field]) if {
	not _present(doc, field.path)
	_required(field)
}

_field_problem(field, doc) := _value_problem(field, object.get(doc, field.path, null)) if {
	_present(doc, field.path)
}

# The types checked by kind (integers and numbers also by range), as messages name them. One lookup finds the kind,
# where one rule per type would each be tried in turn for every field.
_kinds := {
	"uuid": "a UUID",
	"email": "an email address",
	"boolean": "a boolean",
	"integer": "an integer",
	"number": "a number",
}

_value_problem(field, value) := _wrong_type(field, kind, value) if {
	kind := _kinds[field.type]
	not _of_kind(field.type, value)
}

_value_problem(field, value) := message if {
	field.type == "enum"
	allowed := field.values
	not value in allowed
	message := sprintf("field `%s` must be one of %s, got %s", [field.field, _show_list(allowed), _show(value)])
}

_value_problem(field, value) := _string_problem(field, value) if field.type == "string"

_value_problem(field, value) := _range_problem(field, value) if {
	field.type in {"integer", "number"}
	_of_kind(field.type, value)
}

_of_kind("uuid", value) if {
	is_string(value)
	regex.match(_uuid, value)
}

_of_kind("email", value) if {
	is_string(value)
	regex.match(_email, value)
}

_of_kind("boolean", value) if is_boolean(value)

# Within ±(2^53 - 1), the integers JSON exchanges exactly (RFC 7493, section 2.2): beyond them floor() of a number
# rounds through a float in OPA and not in regorus, so 1e300 would be an integer on one engine only.
_of_kind("integer", value) if {
	is_number(value)
	value <= 9007199254740991
	value >= -9007199254740991
	floor(value) == value
}

_of_kind("number", value) if is_number(value)

_string_problem(field, value) := _wrong_type(field, "a string", value) if {
	not is_string(value)
} else := message if {
	_length(value) < field.min_length
	template := "field `%s` must be at least %v characters long, got %v"
	message := sprintf(template, [field.field, field.min_length, _length(value)])
} else := message if {
	_length(value) > field.max_length
	template := "field `%s` must be at most %v characters long, got %v"
	message := sprintf(template, [field.field, field.max_length, _length(value)])
} else := message if {
	pattern := field.pattern
	not regex.match(pattern, value)
	message := sprintf("field `%s` must match the pattern `%s`", [field.field, pattern])
}

# A string's length in Unicode code points, as Python's len() counts it. count() of a string differs between the
# engines (regorus counts an emoji as 2, OPA as 1); one match of `(?s).` per code point is the same in RE2 and Rust.
_length(text) := count(regex.find_n(`(?s).`, text, -1))

_range_problem(field, value) := message if {
	value < field.minimum
	template := "field `%s` must be at least %s, got %s"
	message := sprintf(template, [field.field, number_text(field.minimum), number_text(value)])
} else := message if {
	value > field.maximum
	template := "field `%s` must be at most %s, got %s"
	message := sprintf(template, [field.field, number_text(field.maximum), number_text(value)])
}

# METADATA
# title: Number in a message
# description: |
#   A number as messages show it, the same on OPA and regorus: an integer within ±(2^53 - 1) in decimal digits, any
#   other number from 0.0001 up to a million as sprintf writes it (both engines write the shortest decimal there),
#   and beyond that only named (Go switches to exponent notation, `1e+300`, where Rust writes every digit).
number_text(n) := format_int(n, 10) if {
	abs(n) <= 9007199254740991
	floor(n) == n
} else := sprintf("%v", [n]) if {
	abs(n) >= 0.0001
	abs(n) < 1000000
} else := "a number too large or too small to show"

_wrong_type(field, kind, value) := sprintf("field `%s` must be %s, got %s", [field.field, kind, _show(value)])

# Values are shown as JSON would write them, but built by hand: json.marshal escapes `<`, `>` and `&` in OPA and not
# in regorus, and messages must read the same in both. Control characters are replaced to keep messages on one line.
# Arrays and objects are only named, never printed: a message names what is wrong, it does not echo the body.
_show(value) := concat("", [`"`, printable(value), `"`]) if {
	is_string(value)
} else := "an array" if {
	is_array(value)
} else := "an object" if {
	is_object(value)
} else := number_text(value) if {
	is_number(value)
} else := sprintf("%v", [value])

_show_list(values) := concat("", ["[", concat(", ", [_show(value) | some value in values]), "]"])
