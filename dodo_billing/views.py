"""Dashboard pages of the project package (the overview); app pages live in each app."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from customers.selectors import customer_count
from dodo_billing.selectors import api_key_list, business_for_user
from wallets.selectors import ledger_entry_recent, wallet_balances_by_currency


@login_required
def home(request):
    business = business_for_user(user=request.user)
    if business is None:
        return render(request, "dashboard/no_business.html", status=403)
    context = {
        "customer_count": customer_count(business=business),
        "balances": wallet_balances_by_currency(business=business),
        "entries": ledger_entry_recent(business=business, limit=10),
        "api_keys": api_key_list(business=business, active=True)[:5],
    }
    return render(request, "dashboard/home.html", context)
