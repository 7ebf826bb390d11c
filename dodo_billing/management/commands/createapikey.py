from django.core.management.base import BaseCommand, CommandError

from dodo_billing.errors import ApplicationError
from dodo_billing.services import api_key_create, business_get_or_create


class Command(BaseCommand):
    help = (
        "Create an API key for a business (creating the business if it does not exist). The secret is "
        "printed once, alone on the last line of standard output; only its digest is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", required=True, help="Business name.")
        parser.add_argument("--name", default="default", help="A label for the key (default: default).")
        parser.add_argument("--read-only", action="store_true", help="The key may only read (GET).")

    def handle(self, *args, **options):
        try:
            business, created = business_get_or_create(name=options["business"])
            api_key, secret = api_key_create(
                business=business, name=options["name"], can_write=not options["read_only"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        verb = "Created" if created else "Using"
        self.stdout.write(f"{verb} business {business.name} ({business.id}).")
        access = "read-only" if options["read_only"] else "read/write"
        self.stdout.write(
            f"API key {api_key.name!r} ({access}, prefix {api_key.prefix}). It is shown only once:"
        )
        self.stdout.write(secret)
