"""Pooled Aliyun apps: RENDERGATE_ALIYUN_APP_KEYS' `[name=]APP_KEY:APP_SECRET[:concurrency]`
entries, the cap they add up to, their redaction, and which refusals set an app aside."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from rendergate.config.settings import load_settings
from rendergate.domain.errors import ConfigError, OutOfFunds
from rendergate.providers import registry
from rendergate.providers.accounts import ProviderAccount, account_id
from rendergate.providers.aliyun import Aliyun, AliyunSettings
from rendergate.providers.aliyun_errors import gateway_error, service_error

KEY, SECRET = "204918273", "Zq8vWm2LkP0sYtR4xN6cB1dF3gH5jK7u"
OTHER, OTHER_SECRET = "204918274", "Yx7uVn1KjO9rXsQ3wM5bA0cE2fG4hJ6t"


def test_the_single_app_comes_first_and_the_cap_is_the_apps_sum(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        aliyun_app_key=KEY,
        aliyun_app_secret=SECRET,
        aliyun_app_keys=f"big={OTHER}:{OTHER_SECRET}:50",
        aliyun_concurrency=2,
    )
    assert settings.of(AliyunSettings).accounts() == (
        ProviderAccount(account_id(f"{KEY}:{SECRET}"), f"{KEY}:{SECRET}", 2),
        ProviderAccount("big", f"{OTHER}:{OTHER_SECRET}", 50),
    )
    assert registry(settings)["aliyun"].concurrency(settings) == 52
    assert {KEY, SECRET, OTHER, OTHER_SECRET} <= set(settings.secret_values())
    alone = load_settings(data_dir=tmp_path / "2", aliyun_app_keys=f"{KEY}:{SECRET}")
    assert registry(alone)["aliyun"].missing_settings(alone) == []
    assert registry(alone)["aliyun"].concurrency(alone) == 3  # ALIYUN_CONCURRENCY's default


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"aliyun_app_keys": f"{KEY}:{SECRET},{OTHER}"}, "entry 2 of RENDERGATE_ALIYUN_APP_KEYS"),
        ({"aliyun_app_keys": f"{KEY}:"}, "entry 1 of RENDERGATE_ALIYUN_APP_KEYS"),
        ({"aliyun_app_keys": f"{KEY}:{SECRET}:x"}, "entry 1 of RENDERGATE_ALIYUN_APP_KEYS"),
        (
            {"aliyun_app_keys": f"{KEY}:{SECRET}", "aliyun_app_key": OTHER},
            "set both RENDERGATE_ALIYUN_APP_KEY and RENDERGATE_ALIYUN_APP_SECRET, or neither",
        ),
    ],
)
def test_an_entry_that_is_not_a_pair_stops_the_start_without_showing_it(
    tmp_path: Path, extra: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=tmp_path, **extra)
    assert said in refused.value.message
    for secret in (KEY, SECRET, OTHER):
        assert secret not in str(refused.value)


async def test_refusals_of_the_app_or_its_balance_set_it_aside_others_do_not() -> None:
    async with aiohttp.ClientSession() as http:
        pool = Aliyun(
            accounts=(ProviderAccount("a", f"{KEY}:{SECRET}", 1),),
            base_url="http://127.0.0.1:9",
            http=http,
        )
    for kind in ("Invalid AppKey", "Invalid Signature, Server StringToSign:`x`", "Unauthorized"):
        assert pool.refuses_account(gateway_error(400, kind)), kind
    arrears = service_error("Arrearage", "The account is in arrears.")
    assert isinstance(arrears, OutOfFunds) and pool.refuses_account(arrears)
    for other in (
        gateway_error(400, "Timestamp Expired"),  # this machine's clock: every app's
        gateway_error(503, "Throttled by USER Flow Control"),
        service_error("P_Request_ContentSafe"),
        service_error("B_WORKFLOW_NotFound"),
    ):
        assert not pool.refuses_account(other), other.message
