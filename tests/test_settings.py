"""Settings: environment over rewind.toml, public variable names, one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.connection import graph_config
from core.errors import ConfigurationError
from core.settings import RewindSettings, ca_bundle_from_environment, load_settings

TENANT = "8f1c3b1e-2d4a-4c6b-9e0f-1a2b3c4d5e6f"
CLIENT = "0b7d9c2e-5f4a-4e3b-8c1d-2e3f4a5b6c7d"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("REWIND_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == Path(".rewind")
    assert settings.effective_database_url == f"sqlite:///{tmp_path / '.rewind' / 'rewind.db'}"
    assert settings.effective_store_url == (tmp_path / ".rewind" / "store").as_uri()
    assert settings.cloud == "global"


def test_environment_overrides_the_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "rewind.toml").write_text(
        f'tenant_id = "{TENANT}"\ncloud = "usgov"\ndata_dir = "/srv/rewind"\n'
    )
    monkeypatch.setenv("REWIND_CLOUD", "china")
    settings = load_settings()
    assert settings.tenant_id == TENANT  # from the file
    assert settings.cloud == "china"  # env wins
    assert settings.data_dir == Path("/srv/rewind")


def test_config_file_path_from_rewind_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('store_url = "s3://backups/rewind"\n')
    monkeypatch.setenv("REWIND_CONFIG", str(other))
    assert load_settings().effective_store_url == "s3://backups/rewind"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "REWIND_TENANT_ID",
            "not a tenant",
            "REWIND_TENANT_ID must be the tenant's GUID or one of its domains",
        ),
        ("REWIND_CLIENT_ID", "my-app", "REWIND_CLIENT_ID must be the application (client) id"),
        ("REWIND_CLOUD", "mars", "REWIND_CLOUD Input should be 'global', 'usgov', 'usgovdod' or 'china'"),
        ("REWIND_GRAPH_URL", "graph.local", "REWIND_GRAPH_URL must be a URL starting with https://"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_domain_tenant_ids_are_accepted() -> None:
    assert load_settings(tenant_id="contoso.onmicrosoft.com").tenant_id == "contoso.onmicrosoft.com"


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "rewind.toml").write_text("tenant_id = [unterminated\n")
    with pytest.raises(ConfigurationError, match=r"^cannot read rewind.toml"):
        load_settings()


def test_secret_is_not_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REWIND_CLIENT_SECRET", "s3cr3t-value")
    settings = load_settings()
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "no tenant: set REWIND_TENANT_ID"),
        ({"tenant_id": TENANT}, "no application: set REWIND_CLIENT_ID"),
        ({"tenant_id": TENANT, "client_id": CLIENT}, "no credential: set REWIND_CLIENT_SECRET"),
        (
            {
                "tenant_id": TENANT,
                "client_id": CLIENT,
                "client_secret": "x",
                "client_certificate": "/etc/hostname",
            },
            "both REWIND_CLIENT_SECRET and REWIND_CLIENT_CERTIFICATE are set",
        ),
        (
            {"tenant_id": TENANT, "client_id": CLIENT, "client_certificate": "/nope/cert.pem"},
            "REWIND_CLIENT_CERTIFICATE points at /nope/cert.pem, which does not exist",
        ),
    ],
)
def test_incomplete_connection_settings(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match="^" + message):
        graph_config(RewindSettings(**overrides))  # type: ignore[arg-type]


def test_graph_config_applies_cloud_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/tmp/corporate-ca.pem")
    settings = RewindSettings(tenant_id=TENANT, client_id=CLIENT, client_secret="x", cloud="usgovdod")  # type: ignore[arg-type]
    config = graph_config(settings)
    assert config.endpoints().graph_url == "https://dod-graph.microsoft.us"
    assert config.authority == f"https://login.microsoftonline.us/{TENANT}"
    assert config.ca_bundle == "/tmp/corporate-ca.pem"
    custom = graph_config(
        settings.model_copy(update={"graph_url": "https://127.0.0.1:9443"}), tenant_id="x.example"
    )
    assert custom.endpoints().graph_url == "https://127.0.0.1:9443"
    assert custom.tenant_id == "x.example"


def test_ca_bundle_prefers_ssl_cert_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/b.pem")
    assert ca_bundle_from_environment() == "/b.pem"
    monkeypatch.setenv("SSL_CERT_FILE", "/a.pem")
    assert ca_bundle_from_environment() == "/a.pem"
