"""Proposals: approved edits of runs, applied on their base version or merged three-way."""

from vibeforge.proposals.service import ApplyOutcome, ProposalService, outcome_events

__all__ = ["ApplyOutcome", "ProposalService", "outcome_events"]
