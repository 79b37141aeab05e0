"""ISO 4217 currencies: which codes exist, how many decimals their amounts have, how they are written.

The company's currency (``KPI_CURRENCY``) is checked against this table at
start-up, and report formats round and print money with it. Python's
standard library has no such table; the list is ISO 4217's active codes
(national currencies and the fund codes a bank statement may carry; precious
metals and test codes are left out), as of 2025.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

_DECIMALS_OTHER_THAN_TWO = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

_TWO_DECIMALS = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR
RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD
TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
""".split()  # noqa: SIM905 - 150 codes read better as a block

DECIMALS: dict[str, int] = {**dict.fromkeys(_TWO_DECIMALS, 2), **_DECIMALS_OTHER_THAN_TWO}
"""Every known code and the decimals (ISO 4217 "minor units") of its amounts."""

SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "MXN": "MX$",
    "BRL": "R$", "INR": "₹", "CNY": "CN¥", "KRW": "₩", "ILS": "₪", "VND": "₫", "PHP": "₱", "HKD": "HK$",
    "TWD": "NT$",
}  # fmt: skip
"""The symbols an English-language browser writes (``Intl.NumberFormat("en", {style: "currency"})``);
any other currency is written with its code, as the browser does."""


def is_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code (upper case, as the standard writes it)."""
    return code in DECIMALS


def decimals(code: str) -> int:
    """The decimals an amount in ``code`` is written with: 2 for cents, 0 for yen."""
    return DECIMALS.get(code, 2)


def round_money(amount: float, code: str) -> Decimal:
    """``amount`` rounded to the currency's smallest unit (half to even, as bookkeeping does)."""
    return Decimal(repr(float(amount))).quantize(Decimal(1).scaleb(-decimals(code)), rounding=ROUND_HALF_EVEN)


def format_money(amount: float, code: str) -> str:
    """``amount`` as a reader sees it: ``$1,262.80``, ``€262.80``, ``CHF 262.80``, ``¥1,263``."""
    rounded = round_money(amount, code)
    digits = f"{abs(rounded):,.{decimals(code)}f}"
    sign = "-" if rounded < 0 else ""
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{code}\u00a0{digits}"
