from django.core.management.base import BaseCommand, CommandError

from dodo_billing.models import Business
from wallets.selectors import wallet_reconcile


class Command(BaseCommand):
    help = (
        "Check every wallet: balance never negative, balance = credits - debits, and each ledger "
        "entry continues the one before. Exits 1 and names each offending wallet if any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", help="Only this business (id bus_… or exact name).")
        parser.add_argument("--customer", action="append", help="Only this customer id (repeatable).")

    def handle(self, *args, **options):
        business = None
        if options["business"]:
            business = (
                Business.objects.filter(id=options["business"]).first()
                or Business.objects.filter(name=options["business"]).first()
            )
            if business is None:
                raise CommandError(f"No business {options['business']!r}.")
        wallets, entries, problems = wallet_reconcile(business=business, customer_ids=options["customer"])
        for problem in problems:
            self.stderr.write(f"OFFENDER {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s) in {wallets} wallets / {entries} entries.", returncode=1
            )
        self.stdout.write(
            self.style.SUCCESS(f"OK: {wallets} wallets and {entries} ledger entries reconcile.")
        )
