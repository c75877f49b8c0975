"""The Rasa launcher: secrets from the environment only, the action timeout applied."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jwt
import pytest

from bot.rasa_server import (
    JWT_METHOD,
    LaunchError,
    action_timeout,
    admin_jwt,
    main,
    option_value,
    rasa_argv,
)
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
#: As long as bot.run's per-run tokens: HS256 wants at least 32 bytes.
SECRET = "a-secret-of-forty-three-characters-xxxxxxx"


def test_the_token_goes_to_rasa_as_api_token_and_jwt_secret() -> None:
    argv = rasa_argv(["--port", "5005", "--enable-api"], "s3cret")
    assert argv == [
        "rasa", "run", "--port", "5005", "--enable-api",
        "--auth-token=s3cret", "--jwt-secret=s3cret", "--jwt-method=HS256",
    ]


def test_a_token_that_starts_with_a_dash_reaches_rasa_whole() -> None:
    # token_urlsafe() starts with "-" one time in 64: Rasa's argparse must not take it
    # for an option (it did, and the start failed with "expected one argument").
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")
    parser.add_argument("--jwt-secret")
    parser.add_argument("--jwt-method")
    parsed = parser.parse_args(rasa_argv([], "-Xy_z")[2:])
    assert (parsed.auth_token, parsed.jwt_secret) == ("-Xy_z", "-Xy_z")


@pytest.mark.parametrize(
    "secret_arg",
    [["--auth-token", "x"], ["--auth-token=x"], ["-t", "x"], ["-tx"], ["--jwt-secret", "x"]],
)
def test_a_secret_on_the_command_line_is_refused(secret_arg: list[str]) -> None:
    with pytest.raises(LaunchError, match="SUPPORTBOT_RASA_TOKEN"):
        rasa_argv(["--enable-api", *secret_arg], "s3cret")


def test_an_empty_token_is_refused_rather_than_serving_an_open_api() -> None:
    with pytest.raises(LaunchError, match="is empty"):
        rasa_argv(["--enable-api"], "")


def test_main_reports_a_missing_token_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPPORTBOT_RASA_TOKEN", raising=False)
    assert main(["--enable-api"]) == 2
    assert "SUPPORTBOT_RASA_TOKEN is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (["--endpoints", "e.yml"], "e.yml"),
        (["--endpoints=e.yml"], "e.yml"),
        (["--endpoints", "a.yml", "--endpoints", "b.yml"], "b.yml"),
        (["--model", "m"], None),
        (["--endpoints"], None),
    ],
)
def test_option_values_are_read_like_argparse(args: list[str], value: str | None) -> None:
    assert option_value(args, "--endpoints") == value


@pytest.mark.parametrize(("raw", "seconds"), [(10, 10.0), (2.5, 2.5), ("10", 10.0)])
def test_the_action_timeout_is_a_number_of_seconds(raw: object, seconds: float) -> None:
    assert action_timeout({"timeout": raw}) == seconds


def test_no_timeout_key_keeps_rasas_default() -> None:
    assert action_timeout({}) is None


@pytest.mark.parametrize("raw", [0, -1, 3601, "soon", True, [10], float("nan")])
def test_a_bad_action_timeout_is_named(raw: object) -> None:
    with pytest.raises(LaunchError, match="action_endpoint timeout"):
        action_timeout({"timeout": raw})


def test_the_admin_jwt_carries_the_payload_rasa_checks() -> None:
    token = admin_jwt(SECRET, username="inbox", now=1_000.0)
    payload = jwt.decode(
        token, SECRET, algorithms=[JWT_METHOD], options={"verify_exp": False}
    )
    assert payload == {
        "user": {"username": "inbox", "role": "admin"},
        "iat": 1_000,
        "exp": 1_300,
    }
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, SECRET[::-1], algorithms=[JWT_METHOD], options={"verify_exp": False}
        )


def test_an_admin_jwt_expires() -> None:
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(admin_jwt(SECRET, now=1_000.0), SECRET, algorithms=[JWT_METHOD])


def test_the_endpoints_file_timeout_reaches_rasas_action_calls(tmp_path: Path) -> None:
    # In the Rasa environment (one interpreter start: importing Rasa takes a while).
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "action_endpoint:\n  url: http://127.0.0.1:${ACTION_PORT}/webhook\n  timeout: 7\n"
    )
    code = (
        "import sys; from bot.rasa_server import apply_action_timeout;"
        "import rasa.core.actions.action as a;"
        "print(apply_action_timeout(sys.argv[1]), a.DEFAULT_REQUEST_TIMEOUT);"
        "print(apply_action_timeout('endpoints.yml'), a.DEFAULT_REQUEST_TIMEOUT)"
    )
    out = subprocess.run(
        [str(RASA_PYTHON), "-c", code, str(endpoints)],
        cwd=ROOT,
        # Every ${VAR} the shipped endpoints.yml names must be set, as bot.run sets them.
        env={"PYTHONPATH": str(ROOT), "ACTION_PORT": "5055", "TRACKER_DB": "x",
             "SUPPORTBOT_ACTION_TOKEN": "t" * 32, "RASA_TELEMETRY_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    ours, project = out.stdout.splitlines()[-2:]
    assert ours.split() == ["7.0", "7.0"]
    # The project's own endpoints.yml: far below Rasa's 300 s default.
    assert project.split()[0] == project.split()[1] and float(project.split()[0]) <= 30
