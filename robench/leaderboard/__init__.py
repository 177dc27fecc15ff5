"""The leaderboard: result records in git, rendered to Markdown, HTML, CSV and plots, checked for freshness.

    from robench import leaderboard
    leaderboard.add_record("result.json", "leaderboard/records")
    leaderboard.build("leaderboard/records", "leaderboard")
    problems = leaderboard.check("leaderboard/records", "leaderboard")
"""

from robench.leaderboard.build import build, check
from robench.leaderboard.entries import Entry, Table, make_tables
from robench.leaderboard.store import StoredRecord, add_record, filing_path, load_records

__all__ = ["Entry", "StoredRecord", "Table", "add_record", "build", "check", "filing_path", "load_records", "make_tables"]
