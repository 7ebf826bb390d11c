import logging

from celery import shared_task

from wallets.selectors import wallet_reconcile

logger = logging.getLogger(__name__)


@shared_task(name="wallets.tasks.reconcile_wallets")
def reconcile_wallets() -> int:
    """Nightly check of the ledger invariants; every offender is logged at ERROR level."""
    wallets, entries, problems = wallet_reconcile()
    for problem in problems:
        logger.error("Wallet reconciliation failed: %s", problem)
    logger.info("Reconciled %s wallets, %s entries, %s problems", wallets, entries, len(problems))
    return len(problems)
