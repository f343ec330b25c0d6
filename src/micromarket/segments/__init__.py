"""The "group" stage: rule segments, clustered micro-segments with personas, area types."""

from .rules import RuleError, compile_rule, parse, rule_members
from .store import delete, describe, list_segments, members, overlap, refresh_rules, save_rule

__all__ = ["RuleError", "compile_rule", "parse", "rule_members", "save_rule", "refresh_rules", "list_segments",
           "describe", "overlap", "members", "delete"]
