"""Docs that cannot drift: every command, option, config key, table and column is documented."""

from pathlib import Path

import typer.main

from micromarket.cli.app import app
from micromarket.config import DEFAULTS
from micromarket.ingest import PRESETS
from micromarket.schema import TABLES

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_first_screen_gives_the_two_commands():
    first_screen = "\n".join(README.read_text().splitlines()[:25])
    assert "make demo" in first_screen and "make test" in first_screen


def _commands(group, prefix="micromarket"):
    """Every command, sub-commands of groups included, as (full name, command)."""
    for name, command in group.commands.items():
        yield f"{prefix} {name}", command
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix} {name}")


def test_every_command_and_option_is_in_the_cli_reference():
    text = (DOCS / "reference" / "cli.md").read_text()
    for name, command in _commands(typer.main.get_command(app)):
        assert f"## `{name}" in text, name
        section = text[text.index(f"## `{name}"):].split("\n## ", 1)[0]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}" in section, f"{name} {opt}"


def _keys(prefix, tree):
    for key, value in tree.items():
        if isinstance(value, dict) and key != "rules":
            yield from _keys(f"{prefix}{key}.", value)
        else:
            yield f"{prefix}{key}"


def test_every_config_key_is_in_the_config_reference():
    text = (DOCS / "reference" / "config.md").read_text()
    for key in _keys("", {k: v for k, v in DEFAULTS.items() if k != "mapping"}):
        assert f"`{key}`" in text, key
    for rule in DEFAULTS["ingest"]["rules"]:
        assert f"`{rule}`" in text, rule


def test_every_table_and_column_is_in_the_data_model():
    text = (DOCS / "concepts" / "data-model.md").read_text()
    for table in TABLES.values():
        section = text.split(f"## `{table.name}`", 1)[1].split("\n## ", 1)[0]
        for column in table.column_names:
            assert f"| `{column}` |" in section, f"{table.name}.{column}"


def test_every_preset_and_rule_is_in_the_ingest_guide():
    text = (DOCS / "how-to" / "ingest.md").read_text()
    for name in PRESETS:
        assert f"`{name}`" in text
    for rule in DEFAULTS["ingest"]["rules"]:
        assert f"`{rule}`" in text


def test_every_api_operation_and_its_role_is_in_the_api_reference(tmp_path):
    from micromarket.web.app import create_app
    from micromarket.workspace import Workspace

    Workspace.create(tmp_path / "ws").close()
    text = (DOCS / "reference" / "api.md").read_text()
    for path, methods in create_app(tmp_path / "ws").openapi()["paths"].items():
        for method, operation in methods.items():
            assert f"| `{method.upper()} {path}` | {operation['x-role']} |" in text, (method, path)
