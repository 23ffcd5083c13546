"""benchmarks/awsstub.py's DynamoDB expressions: what the handlers act on must come back as DynamoDB computes it."""
from benchmarks.awsstub import apply_update, key_condition


def test_add_set_if_not_exists_list_append_and_remove():
    item = {"pk": {"S": "run"}, "n": {"N": "2"}, "slots": {"NS": ["1"]}, "gone": {"S": "x"},
            "history": {"L": [{"S": "a"}]}}
    touched = apply_update(
        item, "ADD #n :one, #slots :more SET #expected = if_not_exists(#expected, :ten), #h = list_append(#h, :b), "
              "#kept = if_not_exists(#n, :ten) REMOVE #gone",
        {"#n": "n", "#slots": "slots", "#expected": "expected", "#h": "history", "#kept": "kept", "#gone": "gone"},
        {":one": {"N": "1"}, ":more": {"NS": ["1", "2"]}, ":ten": {"N": "10"}, ":b": {"L": [{"S": "b"}]}})
    assert item["n"] == {"N": "3"}
    assert sorted(item["slots"]["NS"]) == ["1", "2"]
    assert item["expected"] == {"N": "10"}
    assert item["kept"] == {"N": "3"}
    assert item["history"] == {"L": [{"S": "a"}, {"S": "b"}]}
    assert "gone" not in item
    assert touched == {"n", "slots", "expected", "history", "kept", "gone"}


def test_set_arithmetic_and_delete_from_a_set():
    item = {"count": {"N": "5"}, "tags": {"SS": ["a", "b"]}}
    apply_update(item, "SET #c = #c - :two DELETE #t :a", {"#c": "count", "#t": "tags"},
                 {":two": {"N": "2"}, ":a": {"SS": ["a"]}})
    assert item == {"count": {"N": "3"}, "tags": {"SS": ["b"]}}


def test_key_conditions():
    values = {":pk": {"S": "run"}, ":e": {"S": "E#"}, ":lo": {"S": "P#000000002"}, ":hi": {"S": "P#999999999"},
              ":n": {"N": "10"}}
    begins = key_condition("pk = :pk AND begins_with(sk, :e)", {}, values)
    assert begins({"pk": {"S": "run"}, "sk": {"S": "E#1"}}) and not begins({"pk": {"S": "run"}, "sk": {"S": "S#1"}})
    between = key_condition("#pk = :pk AND sk BETWEEN :lo AND :hi", {"#pk": "pk"}, values)
    assert between({"pk": {"S": "run"}, "sk": {"S": "P#000000005"}})
    assert not between({"pk": {"S": "run"}, "sk": {"S": "P#000000001"}})
    numbers = key_condition("(pk = :pk) AND n <= :n", {}, values)
    assert numbers({"pk": {"S": "run"}, "n": {"N": "9"}}) and not numbers({"pk": {"S": "run"}, "n": {"N": "11"}})
