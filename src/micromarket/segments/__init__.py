"""The "group" stage: rule segments, clustered micro-segments with personas, area types."""

from .context import rule_members
from .rules import RuleError, compile_rule, parse
from .store import delete_output, describe, list_segments, members, overlap, rule_output, rule_outputs

__all__ = ["RuleError", "compile_rule", "parse", "rule_members", "rule_output", "rule_outputs", "list_segments",
           "describe", "overlap", "members", "delete_output"]
