"""Campaigns: audiences with holdouts and a global control group, personalised messages,
channels, rules at send time, and a send ledger that delivers each message exactly once."""
