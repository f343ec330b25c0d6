"""The workspace file ``micromarket.toml``: read, validate, write.

Secrets never live here: a database URL is named by the environment variable that
holds it (``url_env``), never written out.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from .exceptions import ConfigError
from .schema import INGESTIBLE

CONFIG_FILE = "micromarket.toml"

#: Defaults written by ``micromarket init``; every key is documented in docs/reference/config.md.
DEFAULTS: dict[str, Any] = {
    "workspace": {
        "name": "micromarket",
        "currency": "GBP",
        "timezone": "Europe/London",
    },
    "backend": {
        "kind": "duckdb",
        "path": "micromarket.duckdb",
        "memory_limit": "3GB",
        "threads": 0,
        # Off: DuckDB's block allocator never returns the memory it keeps for reuse, so a stage's
        # own arrays would come on top of the whole limit (docs/decisions.md, 2026-12-03).
        "block_allocator_memory": "0",
        # kind = "spark": the Spark master (local mode on this machine's cores by default, or a
        # cluster's URL), the warehouse folder of the tables, and Spark settings (any spark.* key).
        "master": "local[2]",
        "warehouse": "warehouse",
        "spark": {},
    },
    "ingest": {
        "on_error": "fail",
        "min_date": "1990-01-01",
        "max_date": "",
        "max_line_bytes": 16_000_000,
        # "day-first" or "month-first" for dates such as 02/10/2017 when no value in a file
        # decides; "" makes such a load stop and ask.
        "date_order": "",
        # Codes that are not products (postage, fees, adjustments); presets add their own.
        "non_product_codes": ["POST", "POSTAGE", "SHIPPING", "DELIVERY", "CARRIAGE", "BANK CHARGES",
                              "AMAZONFEE", "ADJUST", "GIFT CARD"],
        "rules": {
            "missing_customer_id": "keep",
            "cancellation": "keep",
            "zero_price": "exclude",
            "negative_price": "exclude",
            "non_product_code": "exclude",
            "exact_duplicate": "exclude",
            "date_out_of_range": "exclude",
        },
    },
    "profile": {
        "unit": "week",
        "horizon_months": 12,
        "discount_rate": 0.01,
        "margin": 0.3,
        "holdout_weeks": 0,
        "models": ["bgnbd", "pareto_nbd", "mbgnbd"],
        # The database's share of backend.memory_limit while the stage runs: the model arrays
        # (every customer's history, predictions and value) sit beside it in the same process.
        "database_memory_share": 0.65,
    },
    "local": {
        "months": 12,
        "spend_per_household": 0.0,
        "confidence": 0.95,
        "fdr": 0.05,
        "core_share": 0.8,
        "max_departure": 0.2,
        # Buying customers a micro-market needs before it is ranked: about the number from which
        # a mean's normal interval can be read (docs/concepts/local.md).
        "min_customers": 30,
    },
    "offers": {
        "days": 14,
        "learner": "auto",
        "contact_cost": 0.1,
        "budget": 0.0,
        "max_contacts": 4,
        "contact_window_days": 30,
        "discount_depths": [0.0],
        # The database's share of backend.memory_limit while propensity and offer scores run:
        # feature reads of every customer sit beside pandas frames of the same customers.
        "database_memory_share": 0.5,
    },
    "recommend": {
        "model": "auto",
        "n": 10,
        "exclude": "recent",
        "recent_days": 14,
        "range_days": 90,
        "test_days": 30,
        # A seeded sample: NDCG over 50,000 customers has a standard error near 0.001.
        "check_customers": 50_000,
        # The database's share of backend.memory_limit while the purchase history is read.
        "database_memory_share": 0.5,
        "segment_by": "auto",
        "factors": 64,
        "iterations": 10,
        "regularization": 20.0,
    },
    "campaigns": {
        # The global control group: never contacted by marketing campaigns (1-15 %).
        "control_share": 0.05,
        "holdout": 0.1,
        # The relative revenue lift `--holdout auto` sizes the holdout to detect (80 % power, 5 % level).
        "target_lift": 0.1,
        "attribution_days": 14,
        # Marketing messages per customer per calendar day and ISO week, all channels (0 = no cap).
        "cap_day": 1,
        "cap_week": 3,
        # [start, end] local hours in which no marketing message is sent (deferred), e.g. [21, 8]; [] = none.
        "quiet_hours": [],
        # Customers read, checked and rendered at a time (each batch costs a few queries).
        "batch": 2000,
        # Pause a campaign when more than this share of its last pause_window messages failed.
        "pause_error_rate": 0.2,
        "pause_window": 100,
        # Where the web app answers links in messages (one-click unsubscribe).
        "link_base_url": "http://localhost:8000",
        # fsync the send journal after every step (survives a power cut, slower).
        "journal_sync": False,
    },
    "channels": {
        "email": {"host": "localhost", "port": 25, "from": "", "tls": "none", "ca_file": "", "user_env": "", "password_env": "",
                  "timeout": 30, "rate": 0.0, "cap_day": 0, "cap_week": 0},
        "mail_folder": {"path": "outbox", "from": "micromarket demo <campaigns@demo.example>", "rate": 0.0,
                        "cap_day": 0, "cap_week": 0},
    },
    "serve": {
        # Where `micromarket serve` listens (127.0.0.1: this machine only).
        "host": "127.0.0.1",
        "port": 8000,
        # A signed-in session ends this many hours after sign-in.
        "session_hours": 8.0,
        # The server lets go of the workspace's database after this many idle seconds, so that a
        # command in another process can open it (DuckDB allows one process at a time).
        "release_after": 1.0,
        # How long a command, or a server request, waits for the workspace while another process
        # holds it, before it gives up with an error naming that process.
        "wait_seconds": 60.0,
    },
    "mapping": {},
}

RULE_ACTIONS = ("keep", "exclude")
ON_ERROR = ("fail", "quarantine")
BACKENDS = ("duckdb", "spark")


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def validate(config: dict, path: Path | str = CONFIG_FILE) -> dict:
    """Check a configuration dictionary and return it merged over the defaults.

    Raises
    ------
    ConfigError
        Naming the file, the key, what it accepts and what it got.
    """
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    merged = _merge(DEFAULTS, config)
    kind = merged["backend"]["kind"]
    if kind not in BACKENDS:
        raise ConfigError(f"{path}: backend.kind = {kind!r}; supported: {', '.join(BACKENDS)}")
    _check_backend(merged["backend"], path)
    on_error = merged["ingest"]["on_error"]
    if on_error not in ON_ERROR:
        raise ConfigError(f"{path}: ingest.on_error = {on_error!r}; expected one of {ON_ERROR}")
    if merged["ingest"]["date_order"] not in ("", "day-first", "month-first"):
        raise ConfigError(f"{path}: ingest.date_order = {merged['ingest']['date_order']!r}; "
                          "expected \"day-first\", \"month-first\" or \"\" (ask when a file does not decide)")
    rules = merged["ingest"]["rules"]
    for rule, action in rules.items():
        if rule not in DEFAULTS["ingest"]["rules"]:
            raise ConfigError(
                f"{path}: ingest.rules.{rule} is not a rule; rules: {', '.join(DEFAULTS['ingest']['rules'])}"
            )
        if action not in RULE_ACTIONS:
            raise ConfigError(f"{path}: ingest.rules.{rule} = {action!r}; expected one of {RULE_ACTIONS}")
    validate_profile(merged["profile"], path)
    _validate_local(merged["local"], path)
    _validate_offers(merged["offers"], path)
    _validate_recommend(merged["recommend"], path)
    _validate_campaigns(merged["campaigns"], path)
    _validate_serve(merged["serve"], path)
    for table, mapping in merged["mapping"].items():
        if table not in INGESTIBLE:
            raise ConfigError(f"{path}: [mapping.{table}] is not a table; tables: {', '.join(INGESTIBLE)}")
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ConfigError(f"{path}: [mapping.{table}] must map canonical column names to source column names")
    return merged


def validate_profile(profile: dict, path) -> None:
    """Check the ``[profile]`` settings (also those given to the stage as arguments, ``path`` naming where from)."""
    _check_section("profile", profile, path, [
        (profile["unit"] in ("week", "day"), "profile.unit", "'week' or 'day'"),
        (isinstance(profile["horizon_months"], int) and profile["horizon_months"] >= 1, "profile.horizon_months", "a whole number >= 1"),
        (isinstance(profile["discount_rate"], (int, float)) and 0 <= profile["discount_rate"] < 1, "profile.discount_rate", "a monthly rate in [0, 1)"),
        (isinstance(profile["margin"], (int, float)) and 0 < profile["margin"] <= 1, "profile.margin", "a share in (0, 1]"),
        (isinstance(profile["holdout_weeks"], int) and profile["holdout_weeks"] >= 0, "profile.holdout_weeks", "a whole number >= 0 (0 = a third of the period, at most 52)"),
        (bool(profile["models"]) and set(profile["models"]) <= {"bgnbd", "pareto_nbd", "mbgnbd"}, "profile.models", "a list of bgnbd, pareto_nbd, mbgnbd"),
        (_share(profile["database_memory_share"]), "profile.database_memory_share", "a share of backend.memory_limit in (0, 1]"),
    ])


def _validate_local(local: dict, path) -> None:
    _check_section("local", local, path, [
        (isinstance(local["months"], int) and local["months"] >= 1, "local.months", "a whole number >= 1"),
        (isinstance(local["spend_per_household"], (int, float)) and local["spend_per_household"] >= 0,
         "local.spend_per_household", "a number >= 0 (0 = unknown)"),
        (isinstance(local["confidence"], float) and 0.5 <= local["confidence"] < 1, "local.confidence", "a level in [0.5, 1)"),
        (isinstance(local["fdr"], float) and 0 < local["fdr"] < 1, "local.fdr", "a false discovery rate in (0, 1)"),
        (isinstance(local["core_share"], (int, float)) and 0 < local["core_share"] <= 1, "local.core_share",
         "a share of chain revenue in (0, 1]"),
        (isinstance(local["max_departure"], (int, float)) and 0 <= local["max_departure"] <= 1, "local.max_departure",
         "a share of the range in [0, 1]"),
        (_whole(local["min_customers"], 1), "local.min_customers", "a whole number of customers >= 1"),
    ])


def _whole(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _share(value) -> bool:
    """A share in (0, 1] (not a bool, which Python counts as a number)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1


def _validate_recommend(recommend: dict, path) -> None:
    models = ("auto", "als", "bpr", "item_item", "buy_again", "segment_popularity", "popularity")
    _check_section("recommend", recommend, path, [
        (recommend["model"] in models, "recommend.model", f"one of {', '.join(models)}"),
        (_whole(recommend["n"], 1), "recommend.n", "a whole number of items >= 1"),
        (recommend["exclude"] in ("recent", "bought", "none"), "recommend.exclude", "one of recent, bought, none"),
        (_whole(recommend["recent_days"], 0), "recommend.recent_days", "a whole number of days >= 0"),
        (_whole(recommend["range_days"], 1), "recommend.range_days", "a whole number of days >= 1"),
        (_whole(recommend["test_days"], 1), "recommend.test_days", "a whole number of days >= 1"),
        (_whole(recommend["check_customers"], 1), "recommend.check_customers", "a whole number of customers >= 1"),
        (_share(recommend["database_memory_share"]), "recommend.database_memory_share", "a share of backend.memory_limit in (0, 1]"),
        (isinstance(recommend["segment_by"], str) and recommend["segment_by"] != "", "recommend.segment_by",
         "auto, a segmentation (clusters, clusters:niche) or a column of customers"),
        (_whole(recommend["factors"], 1), "recommend.factors", "a whole number >= 1"),
        (_whole(recommend["iterations"], 1), "recommend.iterations", "a whole number >= 1"),
        (isinstance(recommend["regularization"], (int, float)) and recommend["regularization"] >= 0,
         "recommend.regularization", "a number >= 0"),
    ])


def _validate_offers(offers: dict, path) -> None:
    _check_section("offers", offers, path, [
        (isinstance(offers["days"], int) and offers["days"] >= 1, "offers.days", "a whole number of days >= 1"),
        (offers["learner"] in ("auto", "x", "t", "s", "transformed"), "offers.learner", "one of auto, x, t, s, transformed"),
        (isinstance(offers["contact_cost"], (int, float)) and offers["contact_cost"] >= 0, "offers.contact_cost",
         "a cost >= 0"),
        (isinstance(offers["budget"], (int, float)) and offers["budget"] >= 0, "offers.budget", "an amount >= 0 (0 = no limit)"),
        (isinstance(offers["max_contacts"], int) and offers["max_contacts"] >= 0, "offers.max_contacts",
         "a whole number >= 0 (0 = no cap)"),
        (isinstance(offers["contact_window_days"], int) and offers["contact_window_days"] >= 1,
         "offers.contact_window_days", "a whole number of days >= 1"),
        (isinstance(offers["discount_depths"], list) and bool(offers["discount_depths"])
         and all(isinstance(d, (int, float)) and 0 <= d < 1 for d in offers["discount_depths"]),
         "offers.discount_depths", "a list of shares in [0, 1), e.g. [0.0, 0.1, 0.2]"),
        (_share(offers["database_memory_share"]), "offers.database_memory_share", "a share of backend.memory_limit in (0, 1]"),
    ])


def _validate_serve(serve: dict, path) -> None:
    def seconds(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0

    _check_section("serve", serve, path, [
        (isinstance(serve["host"], str) and bool(serve["host"].strip()), "serve.host", "a host name or address"),
        (_whole(serve["port"], 1) and serve["port"] <= 65535, "serve.port", "a port number 1-65535"),
        (seconds(serve["session_hours"]) and serve["session_hours"] > 0, "serve.session_hours", "hours > 0"),
        (seconds(serve["release_after"]), "serve.release_after", "seconds >= 0"),
        (seconds(serve["wait_seconds"]), "serve.wait_seconds", "seconds >= 0"),
    ])


def _validate_campaigns(campaigns: dict, path) -> None:
    quiet = campaigns["quiet_hours"]
    _check_section("campaigns", campaigns, path, [
        (isinstance(campaigns["control_share"], float) and 0.01 <= campaigns["control_share"] <= 0.15,
         "campaigns.control_share", "a share between 0.01 and 0.15"),
        (isinstance(campaigns["holdout"], (int, float)) and 0 <= campaigns["holdout"] < 1, "campaigns.holdout",
         "a share in [0, 1)"),
        (isinstance(campaigns["target_lift"], (int, float)) and campaigns["target_lift"] > 0, "campaigns.target_lift",
         "a relative lift > 0, e.g. 0.1 for +10 %"),
        (_whole(campaigns["attribution_days"], 1), "campaigns.attribution_days", "a whole number of days >= 1"),
        (_whole(campaigns["cap_day"], 0), "campaigns.cap_day", "a whole number >= 0 (0 = no cap)"),
        (_whole(campaigns["cap_week"], 0), "campaigns.cap_week", "a whole number >= 0 (0 = no cap)"),
        (isinstance(quiet, list) and (not quiet or (len(quiet) == 2 and all(_whole(h, 0) and h <= 23 for h in quiet))),
         "campaigns.quiet_hours", "[start, end] local hours 0-23 such as [21, 8], or [] for none"),
        (_whole(campaigns["batch"], 1), "campaigns.batch", "a whole number >= 1"),
        (_share(campaigns["pause_error_rate"]), "campaigns.pause_error_rate", "a share in (0, 1]"),
        (_whole(campaigns["pause_window"], 1), "campaigns.pause_window", "a whole number >= 1"),
        (isinstance(campaigns["link_base_url"], str) and campaigns["link_base_url"].startswith(("http://", "https://")),
         "campaigns.link_base_url", "an http(s) URL"),
        (isinstance(campaigns["journal_sync"], bool), "campaigns.journal_sync", "true or false"),
    ])


def _check_backend(backend: dict, path) -> None:
    spark = backend["spark"]
    _check_section("backend", backend, path, [
        (isinstance(backend["master"], str) and backend["master"].strip() != "", "backend.master",
         "a Spark master URL such as 'local[2]' or 'spark://host:7077'"),
        (isinstance(backend["warehouse"], str) and backend["warehouse"].strip() != "", "backend.warehouse",
         "a folder, relative to the workspace or absolute"),
        (isinstance(spark, dict) and all(isinstance(k, str) and k.startswith("spark.") for k in spark), "backend.spark",
         "a table of Spark settings such as {\"spark.driver.memory\" = \"4g\"}"),
    ])


def _check_section(name: str, section: dict, path, checks: list) -> None:
    """Refuse unknown keys, then the first failed check, naming the key, its value and what is expected."""
    unknown = set(section) - set(DEFAULTS[name])
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [{name}]: {sorted(unknown)}; keys: {', '.join(DEFAULTS[name])}")
    for ok, key, expected in checks:
        if not ok:
            raise ConfigError(f"{path}: {key} = {section[key.split('.')[1]]!r}; expected {expected}")


def load(path: Path) -> dict:
    """Read and validate ``micromarket.toml`` at ``path``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return validate(raw, path)


def write(path: Path, config: dict) -> None:
    """Write ``config`` to ``path`` as TOML."""
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
