"""The secrets scan finds what it looks for (so its silence after the fuzz run means something)."""

from tests.reliability.secrets_scan import Exchange, Secrets, leaks

TOKEN = "vf_planted-token-0123456789"
KEY = "sk-planted-key-0123456789"


def test_a_planted_token_or_key_is_found_wherever_it_is() -> None:
    secrets = Secrets(tokens={TOKEN}, keys={KEY})
    issued = Exchange("POST", "/auth/tokens", "{}", f'{{"token": "{TOKEN}"}}')
    echoed = Exchange("GET", f"/projects/{KEY}", f"/projects/{KEY}", f"no project {KEY!r}")
    assert leaks([issued, echoed], secrets, "", b"") == []
    later = Exchange("GET", "/me", "", f'{{"note": "{TOKEN}"}}')
    found = leaks([issued, later], secrets, f"log {KEY}", TOKEN.encode())
    assert sorted(found) == [
        "GET /me answered vf_pla...",
        "the database holds vf_pla...",
        "the log holds sk-pla...",
    ]
