"""Every expression function, pinned by the examples Microsoft documents for it.

Examples come from entra-docs functions-for-customizing-application-data.md (the reference's
[FUNC]); where the published sample output contradicts its own input, the test says so.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from provisiond.mapping import expressions
from provisiond.mapping.expressions import (
    FUNCTION_SIGNATURES,
    IGNORE_FLOW,
    EvaluationContext,
    ExpressionEvaluationError,
    parse,
)

NOW = datetime(2021, 7, 2, 15, 33, 38, tzinfo=UTC)


def _context(**overrides: Any) -> EvaluationContext:
    defaults: dict[str, Any] = {
        "now": lambda: NOW,
        "random": random.Random(7),
        "default_domain": "contoso.com",
    }
    return EvaluationContext(**(defaults | overrides))


def evaluate(
    text: str, source: dict[str, Any] | None = None, context: EvaluationContext | None = None
) -> Any:
    return expressions.compile(parse(text)).evaluate(source or {}, context or _context())


# (expression, source attributes, expected result): the documented examples, by function.
DOCUMENTED_EXAMPLES: list[tuple[str, dict[str, Any], Any]] = [
    (
        'Append([userPrincipalName], ".test")',
        {"userPrincipalName": "John.Doe@contoso.com"},
        "John.Doe@contoso.com.test",
    ),
    ("BitAnd(&HF, &HF7)", {}, 7),
    ("CBool([attribute1] = [attribute2])", {"attribute1": "x", "attribute2": "x"}, True),
    ("CBool([attribute1] = [attribute2])", {"attribute1": "x", "attribute2": "y"}, False),
    ("CDate([StatusHireDate])", {"StatusHireDate": "2020-03-16-07:00"}, "3/16/2020 7:00:00 AM"),
    ('CDate("2021-06-30+08:00")', {}, "6/29/2021 4:00:00 PM"),
    ('CDate("2009-06-15T01:45:30-07:00")', {}, "6/15/2009 8:45:30 AM"),
    (
        "Coalesce([mail],[userPrincipalName])",
        {"userPrincipalName": "John.Doe@contoso.com"},
        "John.Doe@contoso.com",
    ),
    ('ConvertToBase64("Hello world!")', {}, "SABlAGwAbABvACAAdwBvAHIAbABkACEA"),
    ('ConvertToUTF8Hex("Hello world!")', {}, "48656C6C6F20776F726C6421"),
    ("CStr([dn])", {"dn": "cn=Joe,dc=contoso,dc=com"}, "cn=Joe,dc=contoso,dc=com"),
    (
        'DateAdd("d", 7, CDate([StatusHireDate]))',
        {"StatusHireDate": "2012-03-16-07:00"},
        "3/23/2012 7:00:00 AM",
    ),
    (
        'DateAdd("d", -10, CDate([StatusHireDate]))',
        {"StatusHireDate": "2012-03-16-07:00"},
        "3/6/2012 7:00:00 AM",
    ),
    (
        'DateAdd("ww", 2, CDate([StatusHireDate]))',
        {"StatusHireDate": "2012-03-16-07:00"},
        "3/30/2012 7:00:00 AM",
    ),
    (
        'DateAdd("m", 10, CDate([StatusHireDate]))',
        {"StatusHireDate": "2012-03-16-07:00"},
        "1/16/2013 7:00:00 AM",
    ),
    (
        'DateAdd("yyyy", 2, CDate([StatusHireDate]))',
        {"StatusHireDate": "2012-03-16-07:00"},
        "3/16/2014 7:00:00 AM",
    ),
    ("DateFromNum(129699324000000000)", {}, "1/1/2012 11:00:00 PM"),
    (
        'FormatDateTime([extensionAttribute1], , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
        {"extensionAttribute1": "20150123105347.1Z"},
        "2015-01-23",
    ),
    ("IgnoreFlowIfNullOrEmpty([department])", {}, IGNORE_FLOW),
    ("IgnoreFlowIfNullOrEmpty([department])", {"department": ""}, IGNORE_FLOW),
    ("IgnoreFlowIfNullOrEmpty([department])", {"department": "Sales"}, "Sales"),
    (
        'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))',
        {"prefix": "9999"},
        IGNORE_FLOW,
    ),
    (
        'IgnoreFlowIfNullOrEmpty(Switch([prefix], "", "3443", "Dr.", "3444", "Prof.", "3445", "Prof. Dr."))',
        {"prefix": "3444"},
        "Prof.",
    ),
    ('IIF([country]="USA",[country],[department])', {"country": "USA", "department": "Sales"}, "USA"),
    ('IIF([country]="USA",[country],[department])', {"country": "NL", "department": "Sales"}, "Sales"),
    (
        'IIF([country]="USA",IIF([state]="CA","True","False"),"False")',
        {"country": "USA", "state": "CA"},
        "True",
    ),
    (
        'IIF([country]="USA",IIF([state]="CA","True","False"),"False")',
        {"country": "USA", "state": "WA"},
        "False",
    ),
    (
        'IIF([country]="USA","True",IIF([state]="CA","True","False"))',
        {"country": "NL", "state": "CA"},
        "True",
    ),
    (
        'IIF([country]="USA","True",IIF([state]="CA","True","False"))',
        {"country": "NL", "state": "WA"},
        "False",
    ),
    ('Switch([country],[country],"","Other")', {"country": ""}, "Other"),
    ('Switch([country],[country],"","Other")', {}, "Other"),
    ('Switch([country],[country],"","Other")', {"country": "NL"}, "NL"),
    ('InStr("The quick brown fox","quick")', {}, 5),
    ('InStr("repEated","e",3,vbBinaryCompare)', {}, 7),
    ("IsNull([displayName])", {}, True),
    ("IsNull([displayName])", {"displayName": ""}, False),
    ("IsNullOrEmpty([displayName])", {"displayName": ""}, True),
    ("IsNullOrEmpty([displayName])", {"displayName": "John"}, False),
    (
        "Item([proxyAddresses], 1)",
        {"proxyAddresses": ["SMTP:a@contoso.com", "smtp:b@contoso.com"]},
        "SMTP:a@contoso.com",
    ),
    ('Left("John Doe", 3)', {}, "Joh"),
    ("NormalizeDiacritics([givenName])", {"givenName": "Zoë"}, "Zoe"),
    ("PCase([firstName])", {"firstName": "PABLO GONSALVES (SECOND)"}, "Pablo Gonsalves (Second)"),
    ('PCase([lastName]," \'-")', {"lastName": "PINTO-DE'SILVA"}, "Pinto-De'Silva"),
    (
        'PCase(Join(" ",[firstName],[lastName]))',
        {"firstName": "GREGORY", "lastName": "JAMES"},
        "Gregory James",
    ),
    ("Now()", {}, "7/2/2021 3:33:38 PM"),
    (
        'NumFromDate(Join("", FormatDateTime([ContractEndDate], ,"yyyy-MM-ddzzz", "yyyy-MM-dd"), " 23:59:59-08:00"))',
        {"ContractEndDate": "2020-12-31-08:00"},
        132539615990000000,  # 2021-01-01T07:59:59Z as AD FILETIME
    ),
    (
        'NumFromDate(Join("",FormatDateTime([endDate], ,"M/d/yyyy hh:mm:ss tt","yyyy-MM-dd")," 23:59:59-08:00"))',
        {"endDate": "12/31/2020 12:00:00 AM"},
        132539615990000000,
    ),
    ("Redact([userPrincipalName])", {"userPrincipalName": "jsmith@contoso.com"}, "jsmith@contoso.com"),
    ('Redact("StringToBeRedacted")', {}, "StringToBeRedacted"),
    (
        "RemoveDuplicates([proxyAddresses])",
        {"proxyAddresses": ["smtp:a", "smtp:b", "smtp:a"]},
        ["smtp:a", "smtp:b"],
    ),
    (
        'Replace([BusinessTitle],"Product Developer", , , "Software Engineer", , )',
        {"BusinessTitle": "Product Developer"},
        "Software Engineer",
    ),
    (
        'Replace([UserID],"<username>", , , , , "<username>@contoso.com")',
        {"UserID": "jsmith"},
        "jsmith@contoso.com",
    ),
    (
        'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", , "${phoneNumber}", , )',
        {"telephoneNumber": "+91 9998887777"},
        "9998887777",
    ),
    (
        'Replace([AddressLineData], ,"(?<streetNumber>^\\\\d*)","streetNumber", "888", , )',
        {"AddressLineData": "545 Tremont Street"},
        "888 Tremont Street",
    ),
    (
        'Replace([userPrincipalName], , "(?<Suffix>@(.)*)", "Suffix", "", , )',
        {"userPrincipalName": "jsmith@contoso.com"},
        "jsmith",
    ),
    (
        'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", "phoneNumber" , , [mobile], )',
        {"telephoneNumber": "", "mobile": "+91 8887779999"},
        "8887779999",
    ),
    ('Replace([mailNickname], , "[a-zA-Z_]*", , "", , )', {"mailNickname": "john_doe72"}, "72"),
    ('Replace([mail], "@contoso.com", , ,"", ,)', {"mail": "john.doe@contoso.com"}, "john.doe"),
    (
        'Replace([mail], "@contoso.com", , , "@fabrikam.com", , )',
        {"mail": "john.doe@contoso.com"},
        "john.doe@fabrikam.com",
    ),
    (
        'Split([extensionAttribute5], ",")',
        {"extensionAttribute5": "PermissionSetOne,PermissionSetTwo"},
        ["PermissionSetOne", "PermissionSetTwo"],
    ),
    ("StripSpaces([displayName])", {"displayName": "John Smith Jr"}, "JohnSmithJr"),
    (
        'Switch([state], "Australia/Sydney", "NSW", "Australia/Sydney","QLD", "Australia/Brisbane", "SA", "Australia/Adelaide")',
        {"state": "QLD"},
        "Australia/Brisbane",
    ),
    ('Switch(ToLower([statusFlag]), "0", "true", "1", "false", "0")', {"statusFlag": "TRUE"}, "1"),
    ('Switch([statusFlag], "Default Value", "true", "1", "", "0")', {"statusFlag": ""}, "0"),
    (
        'ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"))',
        {"PreferredFirstName": "John", "PreferredLastName": "Smith"},
        "john.smith@contoso.com",
    ),
    ('Word("The quick brown fox",3," ")', {}, "brown"),
    ('Word("This,string!has&many separators",3,",!&#")', {}, "has"),
    (
        "Append(Mid([givenName], 1, 3), Mid([surname], 1, 5))",
        {"givenName": "John", "surname": "Doe"},
        "JohDoe",
    ),
    ('Join(", ", "", [surname], [givenName])', {"givenName": "John", "surname": "Doe"}, "Doe, John"),
    ('Join(" ", [givenName], [surname])', {"givenName": "John", "surname": "Doe"}, "John Doe"),
    ('Mid("John Doe", 3, 5)', {}, "hn Do"),
    ("DefaultDomain()", {}, "contoso.com"),
]


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    DOCUMENTED_EXAMPLES,
    ids=[f"{i:02d}-{text.split('(')[0]}" for i, (text, _, _) in enumerate(DOCUMENTED_EXAMPLES)],
)
def test_documented_example_evaluates_as_documented(text: str, source: dict[str, Any], expected: Any) -> None:
    assert evaluate(text, source) == expected


def test_every_function_has_a_documented_example_or_a_dedicated_test() -> None:
    covered = {match for text, _, _ in DOCUMENTED_EXAMPLES for match in re.findall(r"([A-Za-z0-9]+)\(", text)}
    dedicated = {
        "AppRoleAssignmentsComplex",
        "AssertiveAppRoleAssignmentsComplex",
        "Count",
        "DateDiff",
        "Guid",
        "IsPresent",
        "IsString",
        "Not",
        "RandomString",
        "SelectUniqueValue",
        "SingleAppRoleAssignment",
        "ToUpper",
    }
    assert set(FUNCTION_SIGNATURES) <= covered | dedicated


# --- Switch and booleans ----------------------------------------------------------------------

ACTIVE_FROM_SOFT_DELETE = 'Switch([IsSoftDeleted], , "False", "True", "True", "False")'


@pytest.mark.parametrize(
    ("is_soft_deleted", "active"),
    [("True", "False"), ("False", "True"), (True, "False"), (False, "True")],
)
def test_switch_on_is_soft_deleted_matches_strings_and_booleans_as_true_false_text(
    is_soft_deleted: Any, active: str
) -> None:
    assert evaluate(ACTIVE_FROM_SOFT_DELETE, {"IsSoftDeleted": is_soft_deleted}) == active


def test_switch_without_match_and_empty_default_is_null() -> None:
    assert evaluate(ACTIVE_FROM_SOFT_DELETE, {"IsSoftDeleted": "maybe"}) is None


def test_switch_is_case_sensitive() -> None:
    assert evaluate('Switch([s], "default", "true", "1")', {"s": "TRUE"}) == "default"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("True", False), ("true", False), (True, False), ("False", True), (False, True), (None, True)],
)
def test_not_flips_true_false_strings_and_booleans(value: Any, expected: bool) -> None:
    assert evaluate("Not([IsSoftDeleted])", {"IsSoftDeleted": value}) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (0, False), ("5", True), ("0", False), ("True", True), ("false", False), (None, False)],
)
def test_cbool_is_true_for_non_zero_and_true(value: Any, expected: bool) -> None:
    assert evaluate("CBool([x])", {"x": value}) is expected


def test_cbool_of_non_numeric_text_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="CBool"):
        evaluate("CBool([x])", {"x": "maybe"})


def test_cstr_prints_numbers_and_booleans_like_entra() -> None:
    assert evaluate("CStr([n])", {"n": 42}) == "42"
    assert evaluate("CStr([b])", {"b": True}) == "True"


# --- IIF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'IIF([country]="","Other",[country])',
        'IIF(IsNullOrEmpty([country]),"Other",[country])',
        'IIF(IsPresent([country]),[country],"Other")',
    ],
)
@pytest.mark.parametrize("country", [None, ""])
def test_iif_with_null_or_empty_condition_attribute_fails_to_null(text: str, country: str | None) -> None:
    assert evaluate(text, {"country": country}) is None


@pytest.mark.parametrize(
    ("op", "expected"),
    [("=", "no"), ("<>", "yes"), (">", "yes"), (">=", "yes"), ("<", "no"), ("<=", "no")],
)
def test_iif_compares_numbers_numerically(op: str, expected: str) -> None:
    assert evaluate(f'IIF([level] {op} 9, "yes", "no")', {"level": "10"}) == expected


def test_iif_compares_text_case_sensitively() -> None:
    assert evaluate('IIF([country]="usa", "yes", "no")', {"country": "USA"}) == "no"


def test_iif_compares_dates_as_dates() -> None:
    assert (
        evaluate('IIF(CDate([a]) < CDate([b]), "earlier", "later")', {"a": "1/2/2020", "b": "2019-12-31"})
        == "later"
    )


def test_iif_on_documented_workday_hire_date_rule() -> None:
    text = 'Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")'
    assert evaluate(text, {"Active": "1", "StatusHireDate": "2021-07-20"}) == "False"
    assert evaluate(text, {"Active": "1", "StatusHireDate": "2021-07-05"}) == "True"
    assert evaluate(text, {"Active": "0", "StatusHireDate": "2021-07-05"}) == "False"


# --- text functions ---------------------------------------------------------------------------


def test_append_to_null_source_is_null() -> None:
    assert evaluate('Append([upn], ".test")', {}) is None


def test_join_gives_every_value_of_a_multi_valued_source_and_skips_nulls() -> None:
    source = {"sep": "", "roles": ["a", "b"], "dept": None}
    assert evaluate('Join(";", [roles], [dept], "c")', source) == "a;b;c"


def test_join_of_nothing_is_null() -> None:
    assert evaluate('Join(" ", [givenName], [surname])', {}) is None


@pytest.mark.parametrize(
    ("source", "count", "expected"),
    [("John Doe", 0, ""), ("John Doe", -1, "John Doe"), (None, 3, ""), ("Jo", 5, "Jo")],
)
def test_left_follows_documented_edge_rules(source: str | None, count: int, expected: str) -> None:
    assert evaluate(f"Left([s], {count})", {"s": source}) == expected


def test_mid_clips_at_the_end_of_the_string() -> None:
    assert evaluate('Mid("John Doe", 6, 10)', {}) == "Doe"


def test_mid_start_below_one_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="Mid"):
        evaluate('Mid("John Doe", 0, 2)')


def test_instr_start_below_one_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="InStr: start must be 1 or more"):
        evaluate('InStr("abc", "b", 0)')


def test_instr_text_compare_ignores_case_and_missing_is_zero() -> None:
    assert evaluate('InStr("repEated","e",3,vbTextCompare)') == 4
    assert evaluate('InStr("repEated","e",3,"vbTextCompare")') == 4
    assert evaluate('InStr("abc","z")') == 0


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, ""), (5, ""), (1, "The")],
)
def test_word_out_of_range_is_empty(number: int, expected: str) -> None:
    assert evaluate(f'Word("The quick brown fox",{number}," ")') == expected


def test_word_of_null_is_empty() -> None:
    assert evaluate('Word([s], 1, " ")', {}) == ""


def test_to_upper_and_to_lower_accept_a_culture() -> None:
    assert evaluate('ToUpper([s], "en-US")', {"s": "john"}) == "JOHN"
    assert evaluate("ToUpper([s])", {}) is None
    assert evaluate('ToLower([s], "en-US")', {"s": "JOHN"}) == "john"


def test_pcase_default_separators_include_punctuation_but_not_apostrophes() -> None:
    assert evaluate("PCase([s])", {"s": "o'neil-SMITH_jr.x"}) == "O'neil-Smith_Jr.X"


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("æ", "ae"),
        ("Ǣ", "AE"),
        ("ø", "oe"),
        ("Ø̄", "OE"),
        ("ß", "ss"),
        ("Łódź", "Lodz"),
        ("Ğı", "Gi"),
        ("ȫ", "o"),
    ],
)
def test_normalize_diacritics_follows_the_documented_table(accented: str, plain: str) -> None:
    assert evaluate("NormalizeDiacritics([s])", {"s": accented}) == plain


def test_replace_regex_removes_parentheses_dashes_and_spaces_but_not_the_plus() -> None:
    # The documentation prints "19998887777", but its pattern does not contain "+".
    text = 'Replace([mobile], , "[()\\\\s-]+", , "", , )'
    assert evaluate(text, {"mobile": "+1 (999) 888-7777"}) == "+19998887777"


def test_replace_fallback_mode_returns_the_source_when_it_has_a_value() -> None:
    text = 'Replace([telephoneNumber], , "\\\\+(?<isdCode>\\\\d* )(?<phoneNumber>\\\\d{10})", "phoneNumber" , , [mobile], )'
    source = {"telephoneNumber": "+1 4255550100", "mobile": "+91 8887779999"}
    assert evaluate(text, source) == "+1 4255550100"


def test_replace_with_unknown_group_name_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="no group named 'nope'"):
        evaluate('Replace([s], , "(?<a>x)", "nope", "y", , )', {"s": "x"})


def test_replace_of_null_source_is_null() -> None:
    assert evaluate('Replace([mail], "@contoso.com", , , "@fabrikam.com", , )', {}) is None


def test_documented_object_id_example_strips_letters_from_the_utf8_hex() -> None:
    # The published output was computed from a different object ID than the one it prints.
    text = 'Join("", 1000, Replace(ConvertToUTF8Hex([objectId]), , "[a-zA-Z_]*", , "", , ))'
    result = evaluate(text, {"objectId": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"})
    assert result == "1000" + "30306161303061612626231312636332322646433332343465653434656534346565"


# --- multi-valued functions -------------------------------------------------------------------


def test_split_keeps_dotnet_semantics_without_trimming() -> None:
    # The documentation's sample drops the space after the comma; String.Split keeps it.
    source = {"extensionAttribute5": "PermissionSetOne, PermissionSetTwo"}
    assert evaluate('Split([extensionAttribute5], ",")', source) == ["PermissionSetOne", " PermissionSetTwo"]


def test_item_is_one_based_and_past_the_end_is_null() -> None:
    source = {"proxyAddresses": ["a", "b"]}
    assert evaluate("Item([proxyAddresses], 2)", source) == "b"
    assert evaluate("Item([proxyAddresses], 3)", source) is None
    assert evaluate('Item(Split([userName], "@"), 1)', {"userName": "jdoe@contoso.com"}) == "jdoe"


def test_item_index_zero_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="1-based"):
        evaluate("Item([proxyAddresses], 0)", {"proxyAddresses": ["a"]})


@pytest.mark.parametrize(("value", "count"), [(["a", "b", "c"], 3), ([], 0), (None, 0), ("single", 1)])
def test_count_counts_values_of_a_multi_valued_attribute(value: Any, count: int) -> None:
    assert evaluate("Count([proxyAddresses])", {"proxyAddresses": value}) == count


def test_multi_valued_value_where_one_is_needed_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="single value"):
        evaluate("ToUpper([proxyAddresses])", {"proxyAddresses": ["a", "b"]})


# --- predicates -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "present"), [("x", True), ("", False), (None, False), ([], False)])
def test_is_present_is_the_inverse_of_is_null_or_empty(value: Any, present: bool) -> None:
    assert evaluate("IsPresent([x])", {"x": value}) is present
    assert evaluate("IsNullOrEmpty([x])", {"x": value}) is not present


@pytest.mark.parametrize(
    ("value", "is_string"), [("x", True), ("", True), (3, False), (True, False), (None, False)]
)
def test_is_string_is_true_only_for_text(value: Any, is_string: bool) -> None:
    assert evaluate("IsString([x])", {"x": value}) is is_string


def test_ignore_flow_inside_another_function_still_drops_the_attribute() -> None:
    assert evaluate('Append(IgnoreFlowIfNullOrEmpty([department]), "!")', {}) is IGNORE_FLOW


# --- dates ------------------------------------------------------------------------------------

DATE_DIFF_TABLE = [
    ("d", "2021-08-18+08:00", "2021-08-31+08:00", 13),
    ("d", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -3449),
    ("ww", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -493),
    ("m", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -113),
    ("yyyy", "8/25/2021 5:41:18 PM", "2012-03-16-07:00", -9),
    ("d", "2021-08-31+08:00", "2021-08-31+08:00", 0),
    ("h", "2021-08-24", "2021-08-25", 24),
    ("n", "2021-08-24", "2021-08-25", 1440),
    ("s", "2021-08-24", "2021-08-25", 86400),
]


@pytest.mark.parametrize(("interval", "date1", "date2", "expected"), DATE_DIFF_TABLE)
def test_date_diff_reproduces_the_documented_table(
    interval: str, date1: str, date2: str, expected: int
) -> None:
    source = {"interval": interval, "date1": date1, "date2": date2}
    assert evaluate("DateDiff([interval], CDate([date1]), CDate([date2]))", source) == expected


def test_date_diff_against_now_uses_the_context_clock() -> None:
    assert (
        evaluate('DateDiff("d", Now(), CDate([StatusHireDate]))', {"StatusHireDate": "2021-07-12T15:33:38Z"})
        == 10
    )


def test_date_add_clips_to_the_end_of_the_month() -> None:
    assert evaluate('DateAdd("m", 1, CDate("2021-01-31"))') == "2/28/2021 12:00:00 AM"


def test_date_add_with_unknown_interval_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="interval"):
        evaluate('DateAdd("q", 1, Now())')


@pytest.mark.parametrize("never", ["0", "9223372036854775807"])
def test_date_from_num_of_never_expires_is_null(never: str) -> None:
    assert evaluate(f"DateFromNum({never})") is None


def test_num_from_date_inverts_date_from_num() -> None:
    assert evaluate("NumFromDate(DateFromNum(129699324000000000))") == 129699324000000000


@pytest.mark.parametrize(
    ("value", "input_format", "output_format", "expected"),
    [
        (
            "2021-03-04T05:06:07.0891234Z",
            "yyyy-MM-ddTHH:mm:ss.fffffffK",
            "M/d/yyyy h:mm:ss tt",
            "3/4/2021 5:06:07 AM",
        ),
        ("04/03/2021 17:06", "dd/MM/yyyy HH:mm", "yyyy'-'MM'-'dd'T'HH':'mm", "2021-03-04T17:06"),
        ("March 4, 2021", "MMMM d, yyyy", "ddd dd MMM yy", "Thu 04 Mar 21"),
        ("2021-03-04 23:30-02:00", "yyyy-MM-dd HH:mmzzz", "yyyy-MM-dd HH:mm zzz", "2021-03-05 01:30 +00:00"),
        ("  20210304  ", "yyyyMMdd", "s", "2021-03-04T00:00:00"),
        ("2021-03-04 09:05:00.120", "yyyy-MM-dd HH:mm:ss.fff", "HH:mm:ss.FFF", "09:05:00.12"),
        ("2021-03-04 09:05:00.000", "yyyy-MM-dd HH:mm:ss.fff", "HH:mm:ss.FFF", "09:05:00"),
    ],
)
def test_format_date_time_speaks_dotnet_custom_formats(
    value: str, input_format: str, output_format: str, expected: str
) -> None:
    source = {"value": value, "in": input_format, "out": output_format}
    assert evaluate("FormatDateTime([value], , [in], [out])", source) == expected


def test_format_date_time_formats_a_date_value_without_reading_its_input_format() -> None:
    assert evaluate('FormatDateTime(Now(), , "unused", "yyyy-MM-dd")') == "2021-07-02"


def test_format_date_time_of_text_not_matching_the_format_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="FormatDateTime"):
        evaluate('FormatDateTime("2021/03/04", , "yyyy-MM-dd", "yyyy")')


def test_cdate_of_unreadable_text_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="CDate"):
        evaluate('CDate("next tuesday")')


# --- generated values -------------------------------------------------------------------------


def test_guid_is_a_random_version_4_guid_from_the_context() -> None:
    first = evaluate("Guid()", context=_context(random=random.Random(1)))
    again = evaluate("Guid()", context=_context(random=random.Random(1)))
    assert first == again
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)


def test_random_string_without_special_characters_has_the_requested_classes() -> None:
    value = evaluate("RandomString(6,3,0,0,3)")
    assert len(value) == 6
    assert sum(c.isdigit() for c in value) == 3
    assert sum(c.islower() for c in value) == 3


def test_random_string_with_characters_to_avoid_meets_the_minimums() -> None:
    for seed in range(20):
        value = evaluate('RandomString(10,2,2,2,1,"?,")', context=_context(random=random.Random(seed)))
        assert len(value) == 10
        assert sum(c.isdigit() for c in value) >= 2
        assert sum(not c.isalnum() for c in value) >= 2
        assert sum(c.isupper() for c in value) >= 2
        assert sum(c.islower() for c in value) >= 1
        assert "?" not in value and "," not in value


@pytest.mark.parametrize("text", ["RandomString(257,0,0,0,0)", "RandomString(3,2,2,0,0)"])
def test_random_string_rejects_impossible_lengths(text: str) -> None:
    with pytest.raises(ExpressionEvaluationError, match="RandomString"):
        evaluate(text)


SELECT_UNIQUE_UPN = """SelectUniqueValue(
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  [PreferredFirstName], [PreferredLastName]))), "contoso.com"),
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 1), [PreferredLastName]))), "contoso.com"),
    Join("@", NormalizeDiacritics(StripSpaces(Join(".",  Mid([PreferredFirstName], 1, 2), [PreferredLastName]))), "contoso.com")
)"""


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        (set(), "John.Smith@contoso.com"),
        ({"John.Smith@contoso.com"}, "J.Smith@contoso.com"),
        ({"John.Smith@contoso.com", "J.Smith@contoso.com"}, "Jo.Smith@contoso.com"),
    ],
)
def test_select_unique_value_returns_the_first_candidate_the_target_lacks(
    taken: set[str], expected: str
) -> None:
    context = _context(is_unique=lambda candidate: candidate not in taken)
    source = {"PreferredFirstName": "John", "PreferredLastName": "Smith"}
    assert evaluate(SELECT_UNIQUE_UPN, source, context) == expected


def test_select_unique_value_without_a_unique_candidate_is_an_evaluation_error() -> None:
    context = _context(is_unique=lambda candidate: False)
    with pytest.raises(ExpressionEvaluationError, match="no candidate is unique"):
        evaluate('SelectUniqueValue("a", "b")', {}, context)


def test_default_domain_is_null_without_one_in_the_context() -> None:
    assert evaluate("DefaultDomain()", context=_context(default_domain=None)) is None


# --- app roles --------------------------------------------------------------------------------

ASSIGNMENTS = [
    {"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": "Admin", "displayName": "Administrator"},
    {"id": "16b07648-ecfe-589f-9d2f-6325724a46ee", "value": "User", "displayName": "User"},
]


def test_single_app_role_assignment_gives_one_role_value() -> None:
    assert (
        evaluate("SingleAppRoleAssignment([appRoleAssignments])", {"appRoleAssignments": ASSIGNMENTS[:1]})
        == "Admin"
    )
    assert (
        evaluate("SingleAppRoleAssignment([appRoleAssignments])", {"appRoleAssignments": ["Reader"]})
        == "Reader"
    )
    assert evaluate("SingleAppRoleAssignment([appRoleAssignments])", {"appRoleAssignments": []}) is None


@pytest.mark.parametrize("function", ["AppRoleAssignmentsComplex", "AssertiveAppRoleAssignmentsComplex"])
def test_app_role_assignments_complex_gives_every_role_as_non_primary(function: str) -> None:
    compiled = expressions.compile(parse(f"{function}([appRoleAssignments])"))
    assert compiled.evaluate({"appRoleAssignments": ASSIGNMENTS}) == [
        {
            "primary": False,
            "type": "WindowsAzureActiveDirectoryRole",
            "display": "Administrator",
            "value": "Admin",
        },
        {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
    ]
    assert function in compiled.functions  # how the engine picks PATCH Add or Replace


# --- the compiled expression ------------------------------------------------------------------


def test_compiled_expression_lists_the_attributes_and_functions_it_uses() -> None:
    compiled = expressions.compile(parse('Redact(Join(" ", [givenName], IIF([c] = "x", [sn], "")))'))
    assert compiled.attributes == {"givenName", "c", "sn"}
    assert compiled.functions == {"Redact", "Join", "IIF"}


def test_attribute_lookup_falls_back_to_case_insensitive_names() -> None:
    assert evaluate("[givenname]", {"givenName": "John"}) == "John"


def test_evaluate_without_context_uses_defaults() -> None:
    assert expressions.compile(parse('Append("a", "b")')).evaluate({}) == "ab"
