"""The report's number formatting: three significant digits with k, m, bn, and the currency."""

import pytest

from mmm_geo.report import html as H


@pytest.mark.parametrize("value, text", [
    (999_800, "1 m"),            # rounds to 3 digits before it picks the unit (was "1e+03 k")
    (999.7, "1 k"),
    (1_234_567, "1.23 m"),
    (2_500, "2.5 k"),
    (-2_500, "-2.5 k"),
    (0.0123, "0.0123"),
    (0, "0"),
    (3.2e9, "3.2 bn"),
])
def test_numbers_have_three_significant_digits_and_a_unit(value, text):
    assert H.fmt(value, "money") == text


def test_money_puts_the_currency_after_the_sign():
    assert H.money(-2500, "$") == "-$2.5 k" and H.money(999_800, "$") == "$1 m"
    assert H.money(float("nan"), "$") == "–"
