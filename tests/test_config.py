import pytest

from adaptive_batch import ConfigError, DataConfig, RunConfig, ScheduleConfig
from adaptive_batch.config import help_for


def test_budget_below_warmup_is_rejected_once_at_the_edge():
    with pytest.raises(ConfigError, match=r"budget must be >= warmup \(2\), got 1"):
        ScheduleConfig(budget=1, warmup=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"warmup": 0}, "warmup must be >= 1"),
        ({"budget": -1}, "budget must be > 0"),
        ({"max_per_query": 1, "warmup": 2}, "max_per_query must be >= warmup"),
        ({"method": "best"}, "method must be one of"),
    ],
)
def test_schedule_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ScheduleConfig(**kwargs)


def test_from_dict_rejects_unknown_keys_and_names_them():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in config.schedule: bugdet"):
        RunConfig.from_dict({"data": {"path": "x.jsonl"}, "schedule": {"bugdet": 3}})


def test_from_dict_rejects_wrong_types():
    with pytest.raises(ConfigError, match=r"config.schedule.warmup must be int, got str"):
        RunConfig.from_dict({"data": {"path": "x.jsonl"}, "schedule": {"warmup": "2"}})
    with pytest.raises(ConfigError, match=r"k must be >= 1, got 0"):
        RunConfig.from_dict({"data": {"path": "x.jsonl"}, "retrieval": {"k": 0}})


def test_round_trip_and_default_output_dir():
    config = RunConfig.from_dict({"data": {"path": "d/addsub.jsonl"}, "schedule": {"method": "uniform", "budget": 4}})
    assert config.output_dir == "runs/addsub-uniform-s0"
    again = RunConfig.from_dict(config.to_dict())
    assert again == config
    assert config.schedule.per_query_cap == 12


def test_config_is_frozen():
    config = RunConfig(data=DataConfig(path="x.jsonl"))
    with pytest.raises(Exception):
        config.seed = 3  # type: ignore[misc]


def test_help_text_is_declared_with_the_field():
    assert "Average compute per query" in help_for(ScheduleConfig, "budget")
