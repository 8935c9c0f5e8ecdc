from __future__ import annotations

from portfolio.adapters.redaction import Redactor, redact_url, secret_parts
from portfolio.config import Settings
from portfolio.main.app import settings_redactor

URL = "https://user:pa55word@rpc.example.com/v2/abcdef123456?api-key=qwerty987&x=1"


def test_a_redacted_url_keeps_scheme_host_and_port_and_tells_endpoints_apart() -> None:
    name = redact_url(URL)
    assert name.startswith("https://rpc.example.com:443#")
    assert redact_url(URL) == name  # stable
    assert redact_url(URL.replace("abcdef", "fedcba")) != name  # another key, another name
    for secret in ("user", "pa55word", "abcdef123456", "qwerty987"):
        assert secret not in name


def test_the_secret_parts_are_the_userinfo_path_and_query_values() -> None:
    parts = secret_parts(URL)
    assert {"pa55word", "user:pa55word", "abcdef123456", "qwerty987"} <= set(parts)
    assert "v2" not in parts  # too short to be a key; scrubbing it would mangle logs


def test_a_redactor_scrubs_urls_and_their_parts_in_any_form() -> None:
    redact = Redactor([URL])
    assert redact(f"POST {URL} failed") == f"POST {redact_url(URL)} failed"
    printed = "url='https://rpc.example.com/v2/abcdef123456?api-key=qwerty987&x=1'"
    scrubbed = redact(printed)
    assert "abcdef123456" not in scrubbed
    assert "qwerty987" not in scrubbed
    assert redact("nothing to hide") == "nothing to hide"
    assert Redactor()("plain") == "plain"


def test_a_redacted_name_passes_a_second_scrub_unchanged() -> None:
    url = "http://127.0.0.1:8545"
    redact = Redactor([url])
    once = redact(f"{url} failed")
    assert redact(once) == once == f"{redact_url(url)} failed"


def test_the_settings_redactor_knows_both_database_passwords() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://app:PrimaryPw9c2e@db:5432/portfolio",
        database_read_url="postgresql+asyncpg://reader:ReplicaPw4d1a@replica:5432/portfolio",
    )
    line = settings_redactor(settings)("could not reach ReplicaPw4d1a and PrimaryPw9c2e")
    assert "ReplicaPw4d1a" not in line
    assert "PrimaryPw9c2e" not in line
