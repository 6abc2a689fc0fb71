"""RunningHub's codes map to the right action, and the adapter's pure helpers."""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp
import pytest

from rendergate.domain.apps import AppSpec, NodeBinding, Route
from rendergate.domain.errors import (
    Fault,
    JobLost,
    OutOfFunds,
    ProviderBusy,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.providers.base import JobRequest
from rendergate.providers.kit import Action
from rendergate.providers.runninghub import RunningHub
from rendergate.providers.runninghub_errors import CODES, error_for
from rendergate.providers.runninghub_results import balance, failure, node_info


@pytest.mark.parametrize("code", [421, 415, 1520, 1003, 1005, 1010, 1011, 1012, 814])
def test_busy_codes_back_off_and_resubmit(code: int) -> None:
    assert isinstance(error_for(code), ProviderUnavailable)


@pytest.mark.parametrize("code", [421, 415, 1520, 814])
def test_our_accounts_limits_say_busy_so_a_fallback_can_take_the_task(code: int) -> None:
    error = error_for(code)
    assert type(error) is ProviderBusy and error.code == str(code)


@pytest.mark.parametrize("code", [1003, 1005, 1010, 1011, 1012, 500, 808])
def test_runninghubs_own_trouble_is_not_our_limit(code: int) -> None:
    assert type(error_for(code)) is ProviderUnavailable


@pytest.mark.parametrize("code", [805, 433, 803, 301, 1007, 1501, 1505])
def test_input_codes_are_terminal_and_the_users_fault(code: int) -> None:
    error = error_for(code)
    assert type(error) is ProviderRejected and error.fault is Fault.USER


@pytest.mark.parametrize("code", [801, 802, 806, 811, 901, 380, 810])
def test_account_codes_are_terminal_configuration_faults(code: int) -> None:
    error = error_for(code)
    assert type(error) is ProviderRejected and error.fault is Fault.CONFIG


@pytest.mark.parametrize("code", [812, 416])
def test_a_used_up_balance_says_so_in_words(code: int) -> None:
    error = error_for(code, "CORPAPIKEY_INSUFFICIENT_FUNDS")
    assert type(error) is OutOfFunds and error.fault is Fault.CONFIG
    assert error.message == (
        f"the account's balance is used up; top it up on RunningHub ({code}): "
        "CORPAPIKEY_INSUFFICIENT_FUNDS"
    )


def test_the_balance_is_read_as_decimals_never_floats() -> None:
    read = balance({"remainCoins": "1200", "remainMoney": 0.1, "currency": "CNY"})
    assert (read.coins, read.money, read.currency) == (Decimal(1200), Decimal("0.1"), "CNY")
    assert read.has_funds is True
    unread = balance({"remainCoins": "n/a", "remainMoney": None, "currency": None})
    assert (unread.coins, unread.money, unread.has_funds) == (None, None, None)
    assert balance({"remainCoins": "0", "remainMoney": "0.00"}).has_funds is False
    assert balance({"remainCoins": "NaN"}).coins is None


def test_running_and_queued_codes_mean_keep_polling_and_unknown_tasks_are_lost() -> None:
    assert CODES[804].action is CODES[813].action is Action.POLL
    assert isinstance(error_for(807), JobLost)


def test_unknown_codes_fail_with_the_code_and_runninghubs_words() -> None:
    error = error_for(999, "SOMETHING_NEW")
    assert type(error) is ProviderRejected
    assert error.message == "RunningHub answered code 999: SOMETHING_NEW"


def test_every_documented_code_has_a_plain_message() -> None:
    documented = {301, 380, 415, 421, 423, 433, 801, 802, 803, 804, 805, 806, 807, 808, 809, 811}
    documented |= {812, 813, 901, 500, 412, 416, 435, 436, 810, 814, 817, 1520}
    assert documented <= set(CODES)
    assert all(
        str(code) in CODES[code].message or CODES[code].action is Action.POLL for code in documented
    )


def test_node_info_fills_the_bindings_from_the_task() -> None:
    bindings = (
        NodeBinding(source="image", node_id="112", field="image"),
        NodeBinding(source="reference", node_id="158", field="image"),
        NodeBinding(source="angle", node_id="7", field="text"),
        NodeBinding(source="params.seed", node_id="3", field="seed"),
        NodeBinding(source="params.absent", node_id="4", field="steps"),
    )
    app = AppSpec(name="su_render", routes=(Route(provider="runninghub", bindings=bindings),))
    request = JobRequest(
        task_id=1,
        app=app,
        inputs={"image": "api/a.png", "reference": "api/b.jpg"},
        angle="front",
        params={"seed": 42},
    )
    assert node_info(request) == [
        {"nodeId": "112", "fieldName": "image", "fieldValue": "api/a.png"},
        {"nodeId": "158", "fieldName": "image", "fieldValue": "api/b.jpg"},
        {"nodeId": "7", "fieldName": "text", "fieldValue": "front"},
        {"nodeId": "3", "fieldName": "seed", "fieldValue": 42},
    ]


def test_a_805_failure_names_the_node_the_exception_and_its_message() -> None:
    error = failure(
        {
            "node_name": "SONIC_PreData",
            "node_id": "276",
            "exception_type": "TypeError",
            "exception_message": "missing 2 required positional arguments",
            "traceback": ["File ..."],
        }
    )
    assert error.message == (
        "the task failed on RunningHub: SONIC_PreData (node 276) raised TypeError: "
        "missing 2 required positional arguments"
    )


async def test_webhooks_are_parsed_but_never_trusted() -> None:
    async with aiohttp.ClientSession() as http:
        hub = RunningHub(api_key="k" * 32, base_url="https://www.runninghub.cn", http=http)
        body = {
            "event": "TASK_END",
            "taskId": "1904163390028185602",
            "eventData": json.dumps({"code": 0, "data": [{"fileUrl": "https://x/y.png"}]}),
        }
        event = hub.parse_webhook({}, json.dumps(body).encode())
        assert (event.job_id, event.event) == ("1904163390028185602", "TASK_END")
        for bad in (b"not json", b"{}", json.dumps({"taskId": "../etc"}).encode()):
            with pytest.raises(ProviderRejected):
                hub.parse_webhook({}, bad)
