"""Budgets: hard caps in dollars or tokens per user, project or model config and period,
reserved before a call, enforced during its stream, settled after it, with soft thresholds."""

from vibeforge.budgets.ledger import BudgetExceeded, BudgetLedger, CallScope
from vibeforge.budgets.metered import BudgetedModel
from vibeforge.budgets.service import BudgetService

__all__ = ["BudgetExceeded", "BudgetLedger", "BudgetService", "BudgetedModel", "CallScope"]
