from dodo_billing.selectors import business_for_user


def business(request):
    """The signed-in staff member's business, for the layout's header."""
    user = getattr(request, "user", None)
    return {"current_business": business_for_user(user=user) if user is not None else None}
