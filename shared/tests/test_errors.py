from servicekit.errors import flatten_messages


def test_nested_validation_messages_become_dotted_field_names():
    messages = {
        "title": ["Missing data for required field."],
        "sections": {
            0: {"capacity": ["Too small."], "timeslot_ids": {1: ["Not a valid integer."]}}
        },
    }
    assert flatten_messages(messages) == {
        "title": ["Missing data for required field."],
        "sections.0.capacity": ["Too small."],
        "sections.0.timeslot_ids.1": ["Not a valid integer."],
    }


def test_errors_about_a_whole_object_are_named_after_it():
    whole = ["Invalid input type."]
    messages = {"_schema": whole, "guardian": {"_schema": whole}}
    assert flatten_messages(messages) == {
        "body": ["Invalid input type."],
        "guardian": ["Invalid input type."],
    }
