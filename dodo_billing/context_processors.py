from django.urls import NoReverseMatch, reverse

from dodo_billing.selectors import business_for_user

# The dashboard's sidebar: (label, Bootstrap icon, URL name, prefixes of the URL names it covers).
# The entry with the longest prefix matching the current page is active; an entry whose URL is not
# configured is left out.
NAVIGATION = (
    ("Overview", "bi-speedometer2", "home", ("home",)),
    ("Customers", "bi-people", "customers:list", ("customers:", "wallets:customer-", "metering:customer-")),
    ("Payments", "bi-credit-card", "metering:payment-list", ("metering:payment",)),
    ("Subscriptions", "bi-arrow-repeat", "metering:subscription-list", ("metering:subscription",)),
    ("Meters", "bi-speedometer", "metering:meter-list", ("metering:meter",)),
    ("Events", "bi-activity", "metering:event-list", ("metering:event",)),
    ("Reports", "bi-bar-chart-line", "customers:report-list", ("customers:report",)),
    ("API docs", "bi-braces", "api-docs", ("api-docs",)),
)


def _navigation(request, user) -> list[dict]:
    match = getattr(request, "resolver_match", None)
    current = (match.view_name or "") if match else ""
    items, best, best_length = [], None, 0
    for label, icon, url_name, prefixes in NAVIGATION:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "icon": icon, "url": url, "active": False})
        for prefix in prefixes:
            if current.startswith(prefix) and len(prefix) > best_length:
                best, best_length = items[-1], len(prefix)
    if best is not None:
        best["active"] = True
    if user.is_staff:
        items.append({"label": "Admin", "icon": "bi-gear", "url": reverse("admin:index"), "active": False})
    return items


def business(request):
    """The signed-in staff member's business and the sidebar, for the layout."""
    user = getattr(request, "user", None)
    current = business_for_user(user=user) if user is not None else None
    return {
        "current_business": current,
        "navigation": _navigation(request, user) if current is not None else [],
    }
