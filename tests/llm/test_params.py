"""Parameters: validation against capabilities, merging over defaults, and cost units."""

from __future__ import annotations

import pytest

from vibeforge.errors import InvalidInput
from vibeforge.llm import Capabilities, InvalidParameter, Params, Prices, Usage, cost_usd
from vibeforge.llm.factory import capabilities_for
from vibeforge.llm.params import merge_params, validate_params
from vibeforge.llm.spec import ModelSpec
from vibeforge.llm.usage import with_cost

OPENAI = capabilities_for(ModelSpec("openai", "m"))
ANTHROPIC = capabilities_for(ModelSpec("anthropic", "m"))


def test_valid_parameters_pass_and_stop_may_be_one_string():
    params = validate_params(OPENAI, {"temperature": 0.2, "stop": "END", "seed": 7})
    assert params.temperature == 0.2 and params.stop == ["END"] and params.seed == 7


def test_a_parameter_the_provider_does_not_accept_is_a_422_naming_it():
    with pytest.raises(InvalidParameter) as caught:
        validate_params(ANTHROPIC, {"temperature": 0.5, "seed": 1})
    assert caught.value.parameter == "seed"
    assert caught.value.status == 422 and isinstance(caught.value, InvalidInput)
    assert "seed" in caught.value.detail


def test_an_unknown_parameter_is_named():
    with pytest.raises(InvalidParameter) as caught:
        validate_params(OPENAI, {"temprature": 0.5})
    assert caught.value.parameter == "temprature"


def test_an_out_of_range_value_is_named():
    with pytest.raises(InvalidParameter) as caught:
        validate_params(OPENAI, {"top_p": 3})
    assert caught.value.parameter == "top_p"


def test_extra_needs_the_capability():
    with pytest.raises(InvalidParameter) as caught:
        validate_params(Capabilities(parameters=frozenset({"temperature"})), {"extra": {"k": 1}})
    assert caught.value.parameter == "extra"


def test_params_objects_are_checked_too():
    with pytest.raises(InvalidParameter):
        validate_params(ANTHROPIC, Params(logit_bias={"1": 2.0}))


def test_per_request_values_override_defaults_and_extra_merges():
    defaults = Params(temperature=0.1, max_tokens=100, extra={"a": 1, "b": 2})
    merged = merge_params(defaults, Params(temperature=0.9, extra={"b": 3}))
    assert merged.temperature == 0.9 and merged.max_tokens == 100
    assert merged.extra == {"a": 1, "b": 3}


def test_prices_are_per_million_tokens():
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=200_000)
    prices = Prices(input_per_million=2.5, output_per_million=10.0, cached_input_per_million=1.25)
    # 800k fresh input at $2.5/M + 200k cached at $1.25/M + 500k output at $10/M
    assert cost_usd(usage, prices) == pytest.approx(2.0 + 0.25 + 5.0)
    one_token = cost_usd(Usage(prompt_tokens=1), Prices(input_per_million=1_000_000))
    assert one_token == pytest.approx(1.0)


def test_provider_cost_wins_over_prices():
    usage = with_cost(Usage(prompt_tokens=10, cost_usd=0.5), Prices(input_per_million=1.0))
    assert usage.cost_usd == 0.5 and usage.cost_source == "provider"
    assert with_cost(Usage(prompt_tokens=10), None).cost_usd is None
