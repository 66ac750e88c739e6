"""What a phone number and a profile body may look like."""

import pytest
from marshmallow import ValidationError
from profile_service.api.schemas import ProfileInSchema


@pytest.mark.parametrize(
    "phone",
    ["617-555-0100", "+1 (617) 555-0100", "617.555.0100", "6175550100 x12", "617-555-0100 EXT 9"],
)
def test_usual_phone_numbers_are_accepted(phone):
    assert ProfileInSchema().load({"phone": phone})["phone"] == phone


NOT_PHONES = ["call me", "555-01", "+1 617 555 0100 2222 3333", "617-555-0100 x 1234567", "12#3456"]


@pytest.mark.parametrize("phone", NOT_PHONES)
def test_other_text_is_not_a_phone(phone):
    with pytest.raises(ValidationError) as refused:
        ProfileInSchema().load({"phone": phone})
    assert list(refused.value.messages) == ["phone"]


def test_a_body_is_stored_without_nulls_and_with_iso_dates():
    loaded = ProfileInSchema().load(
        {"first_name": "Ada", "school": None, "date_of_birth": "2012-12-10", "address": {}}
    )
    assert loaded == {"first_name": "Ada", "date_of_birth": "2012-12-10"}
