"""adapters/dynamo.to_item types the common values itself (the invoice ingester's hot path): its items must be
exactly boto3's TypeSerializer's, and what boto3 refuses it refuses."""
from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeSerializer
from hypothesis import given, strategies as st

from chalicelib.adapters.dynamo import to_item

_boto3 = TypeSerializer().serialize

scalars = st.one_of(
    st.text(), st.integers(min_value=-10 ** 38 + 1, max_value=10 ** 38 - 1), st.booleans(), st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10 ** 12, max_value=10 ** 12),
    st.binary(max_size=8), st.sets(st.text(min_size=1, max_size=3), min_size=1, max_size=3))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                            max_size=3), max_leaves=8)


@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_to_item_is_boto3s_serialisation(record):
    assert to_item(record) == {key: _boto3(value) for key, value in record.items() if value is not None}


def test_an_invoice_record_is_typed_as_boto3_types_it():
    record = {"number": "NF-1", "amount": Decimal("2100.43"), "expires_at": 1924992000, "zero": Decimal("0.00"),
              "source": {"bucket": "b", "key": "k.csv", "row": 12}, "tags": ["a", 1], "flag": True,
              "blob": Binary(b"\x00"), "description": None}
    assert to_item(record) == {k: _boto3(v) for k, v in record.items() if v is not None}
    assert to_item(record)["amount"] == {"N": "2100.43"} and "description" not in to_item(record)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), 10 ** 40 + 1, Decimal("1." + "1" * 40), 1.5])
def test_what_boto3_refuses_is_refused(value):
    with pytest.raises(Exception) as boto3_error:
        _boto3(value)
    with pytest.raises(boto3_error.type):
        to_item({"n": value})
