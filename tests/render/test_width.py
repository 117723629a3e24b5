"""Display widths (East Asian wide characters take two cells) and breaking values into lines without
cutting identifiers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keytrail.render.width import ATOM, IDENT, LIST, TEXT, fold, min_width, pad, pieces, width, wrap

SSO = "958670757900:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"


def test_widths_count_display_cells() -> None:
    assert width("test-user") == 9
    assert width("暗号化") == 6  # East Asian wide: two cells each
    assert width("ｱｲｳ") == 3  # half-width katakana: one cell each
    assert width("e\u0301") == 1  # a combining accent takes none
    assert width("a\u200bb") == 2  # a zero-width space takes none
    assert width("ＡＢ") == 4  # full-width Latin
    assert pad("復号", 6) == "復号  " and pad("8", 3, right=True) == "  8"


def test_an_identifier_breaks_only_after_its_separators() -> None:
    assert pieces("arn:aws:iam::1:user/test-user") == ["arn:", "aws:", "iam:", ":", "1:", "user/", "test-user"]
    assert wrap(SSO, 55, IDENT) == ["958670757900:role/aws-reserved/sso.amazonaws.com/", "ap-northeast-1/",
                                    "AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"]
    assert min_width(SSO, IDENT) == len("AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b")
    assert wrap("x" * 10, 4, IDENT) == ["xxxx", "xxxx", "xx"]  # only a piece wider than the line is cut


def test_a_list_breaks_between_items_and_keeps_each_item_whole() -> None:
    text = "alias/app-data, alias/blog-bucket-key, alias/orders"
    assert wrap(text, 40, LIST) == ["alias/app-data, alias/blog-bucket-key,", "alias/orders"]
    assert min_width(text, LIST) == len("alias/blog-bucket-key,")
    # an item wider than a whole line breaks at its spaces first (a user agent), then as an identifier
    assert wrap("aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0, AWS Internal", 20, LIST) == [
        "aws-cli/2.17.20", "md/awscrt#0.20.11", "ua/2.0, AWS Internal"]


def test_text_breaks_at_spaces_and_japanese_anywhere() -> None:
    assert wrap("the root user arn:aws:iam::111122223333:root called it", 30, TEXT) == [
        "the root user", "arn:aws:iam::111122223333:root", "called it"]
    assert wrap("日本語のテキストです", 8, TEXT) == ["日本語の", "テキスト", "です"]
    assert min_width("11-02 08:05", ATOM) == 11 and wrap("11-02 08:05", 20, ATOM) == ["11-02 08:05"]


def test_fold_never_splits_a_wide_character() -> None:
    assert fold("暗号化と復号", 5) == ["暗号", "化と", "復号"]


_TEXT = st.text(st.sampled_from("ab/:-_ 暗号é\u0301"), max_size=60)


@given(_TEXT, st.integers(2, 30), st.sampled_from([IDENT, LIST, TEXT, ATOM]))
def test_no_line_is_wider_than_asked(text: str, cells: int, kind: str) -> None:
    for line in wrap(text, cells, kind):
        assert width(line) <= max(cells, 2)


@given(st.text(st.sampled_from("ab/:-_暗"), max_size=60), st.integers(2, 30))
def test_an_identifier_loses_nothing(text: str, cells: int) -> None:
    assert "".join(wrap(text, cells, IDENT)) == text


@given(_TEXT, st.integers(2, 30))
def test_text_keeps_its_words_in_order(text: str, cells: int) -> None:
    words = [w for w in text.split(" ") if w]
    assert "".join(wrap(text, cells, TEXT)).replace(" ", "") == "".join(words)
