from django import template

from dodo_billing.money import format_money

register = template.Library()


@register.filter(name="money")
def money(amount, currency):
    """``{{ wallet.balance|money:wallet.currency }}`` → ``$15.00``."""
    if amount is None or not currency:
        return ""
    return format_money(int(amount), currency)
